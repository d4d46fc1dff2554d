"""Jobs on the command line: a one-line progress bar, and running a job in the foreground while drawing it.

Management commands use these instead of drawing bars of their own::

    job = run_in_foreground(job, self.stderr)  # run it here (or follow the worker that has it) until it ends

    bar = ProgressBar(self.stderr)  # any work that reports progress without a job row
    write_archive(company, scope, out, progress=BarProgress(bar))
    bar.close()

The bar reads ``[############..................]  42 %  Importing rows`` (a float percent: `` 42.0%``). On a
terminal it is redrawn in place; written elsewhere (a pipe, a log) each new line is printed once on its own line.
"""

import shutil
import threading
import time

from django.core.management.base import OutputWrapper
from django.db import connection

from keel.jobs.models import DataJob
from keel.jobs.runner import retry_delay, run_job
from keel.jobs.tasks import enqueue, reap_stale_jobs

BAR_WIDTH = 30
MIN_BAR_WIDTH = 10
FOLLOW_SECONDS = 0.5  # how often the foreground loop looks at a job that another process runs
DRAW_SECONDS = 0.3  # how often the bar is redrawn from the job row


def fitted_line(percent, text, columns):
    """``bar_line`` within a terminal ``columns`` wide: a narrower bar, then the text cut, never a wrapped line
    (a wrapped line cannot be redrawn in place with a carriage return)."""
    width = max(MIN_BAR_WIDTH, min(BAR_WIDTH, columns - 30))
    return bar_line(percent, text, width)[: max(columns - 1, 1)]


def bar_line(percent, text="", width=BAR_WIDTH):
    """One line of progress. ``percent`` is an int (as ``DataJob.percent``: " 42 %") or a float (" 42.0%")."""
    filled = int(min(max(percent, 0), 100) * width / 100)
    shown = f"{percent:3d} %" if isinstance(percent, int) else f"{percent:5.1f}%"
    return f"[{'#' * filled}{'.' * (width - filled)}] {shown}  {text[:60]}".rstrip()


class ProgressBar:
    """Draws ``bar_line`` on a stream (a file or a command's ``self.stdout``/``self.stderr``).

    ``show`` draws a changed line at most every ``interval`` seconds on a terminal (every ``log_interval`` seconds
    elsewhere) unless ``force`` is given; ``close`` ends the line. On a terminal the line fits its width (``columns``,
    by default the terminal's as it is when each line is drawn). Safe to call from one thread at a time.
    """

    def __init__(self, stream, interval=0.1, log_interval=1.0, columns=None):
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.columns = columns
        self.interval = interval if self.tty else log_interval
        self._last_line = None
        self._drawn_at = float("-inf")

    def show(self, percent, text="", force=False):
        line = (
            fitted_line(percent, text, self.columns or shutil.get_terminal_size().columns)
            if self.tty
            else bar_line(percent, text)
        )
        now = time.monotonic()
        if line == self._last_line or (not force and now - self._drawn_at < self.interval):
            return
        if self.tty:  # overwrite the previous line, blanking what a longer one left behind
            self._write("\r" + line.ljust(len(self._last_line or "")))
        else:
            self._write(line + "\n")
        self._last_line = line
        self._drawn_at = now

    def close(self):
        if self.tty and self._last_line is not None:
            self._write("\n")

    def _write(self, text):
        if isinstance(self.stream, OutputWrapper):  # as it is: no added newline, no error colour on stderr
            self.stream.write(text, style_func=lambda same: same, ending="")
        else:
            self.stream.write(text)
        self.stream.flush()


class BarProgress:
    """A ``keel.jobs.progress.ProgressReporter`` for work that runs in the foreground without a job row: it draws a
    ``ProgressBar`` with "done/total" before the step."""

    def __init__(self, bar):
        self.bar = bar
        self.total = 0
        self.done = 0
        self.step_text = ""

    def set_total(self, total):
        self.total = max(int(total), 0)
        self._draw()

    def advance(self, n=1):
        self.done += n
        self._draw()

    def set_done(self, done):
        self.done = max(self.done, int(done))
        self._draw()

    def step(self, text):
        self.step_text = text
        self._draw(force=True)

    def checkpoint(self):
        pass  # nothing can cancel work in the foreground but Ctrl+C

    def save(self):
        pass

    def finish(self):
        """Draw the bar full and end its line."""
        self.done = self.total
        self._draw(force=True)
        self.bar.close()

    def _draw(self, force=False):
        fraction = min(1.0, self.done / self.total) if self.total else 0.0
        self.bar.show(fraction * 100, f"{self.done}/{self.total}  {self.step_text}", force=force)


def job_progress(job):
    """What the bar shows of a job row: its percent and its step (its state until it has one)."""
    return job.percent, job.step or job.get_state_display()


def run_in_foreground(job, stream, *, describe=job_progress, pause=retry_delay, on_retry=None):
    """Run ``job`` in this process until it has ended, drawing its progress on ``stream``; returns the ended job.

    If a worker claimed the job first, this follows it instead (and reaps it should that worker die, as nobody
    else may be reaping). A job that an error sent back to the queue is run here again after ``pause(job)``
    seconds, the wait a worker would have; ``on_retry(job, seconds)``, if given, is told before that wait. A job
    whose row is deleted when it ends (a company deletion) has ended then. The bar is drawn from the job row by a
    thread with its own database connection; ``describe(job) -> (percent, text)`` chooses what it shows.
    """
    bar = ProgressBar(stream)
    stop = threading.Event()
    drawer = threading.Thread(target=_draw_until, args=(job.pk, bar, describe, stop), daemon=True)
    drawer.start()
    try:
        while _refreshed(job) and not job.is_final:
            if job.state == DataJob.State.QUEUED:
                if job.attempts:  # a retry: after the same pause a worker would make
                    seconds = pause(job)
                    if on_retry is not None:
                        on_retry(job, seconds)
                    time.sleep(seconds)
                run_job(job.pk, enqueue=enqueue)
            else:
                reap_stale_jobs()
                stop.wait(FOLLOW_SECONDS)
    finally:
        stop.set()
        drawer.join()
    bar.show(*describe(job), force=True)
    bar.close()
    return job


def _refreshed(job):
    """Reload the job from its row; False once the row is gone."""
    try:
        job.refresh_from_db()
    except DataJob.DoesNotExist:
        return False
    return True


def _draw_until(job_pk, bar, describe, stop):
    try:
        while not stop.wait(DRAW_SECONDS):
            job = DataJob.objects.filter(pk=job_pk).first()
            if job is not None:
                bar.show(*describe(job))
    finally:
        connection.close()
