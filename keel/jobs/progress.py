"""How a long operation reports progress: the ``ProgressReporter`` contract, the job's ``Progress``, and the
exceptions a checkpoint raises."""

import logging
import threading
from typing import Protocol

from django.conf import settings
from django.db import connection
from django.db.models import F, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from keel.jobs.models import DataJob

logger = logging.getLogger("keel.jobs")


class JobCancelled(Exception):
    """Raised at a batch boundary once the user asked to cancel."""


class JobFailed(Exception):
    """A permanent failure with a sentence for the user; the job is not retried."""


class LeaseLost(Exception):
    """Another runner owns this job now (ours was presumed dead): stop without touching the job row."""


class WorkerStopping(Exception):
    """The worker was asked to stop: the job goes back to the queue at once, without using up an attempt."""


# Set when the worker process received SIGTERM/SIGINT: running jobs stop at their next batch boundary.
_worker_stopping = threading.Event()


def request_worker_stop():
    _worker_stopping.set()


class ProgressReporter(Protocol):
    """What long work reports while it runs, whoever shows it.

    Implemented by ``Progress`` (a job's row, for the progress component and the API), ``keel.jobs.cli.BarProgress``
    (a bar on the command line), ``NoProgress`` (nobody watches) and the company deletion's receipt
    (``keel.datacontrol.company_deletion.receipt.ReceiptProgress``). Work that takes one, such as
    ``keel.datacontrol.export.archive.write_archive`` or the eraser, calls only these.
    """

    total: int
    done: int

    def set_total(self, total: int) -> None:
        """How much there is to do in all."""

    def set_done(self, done: int) -> None:
        """How much is done; never moves the bar backwards (a resumed run starts where the last one was)."""

    def advance(self, n: int = 1) -> None:
        """``n`` more are done."""

    def step(self, text: str) -> None:
        """What is being done now, as a person reads it ("Deleting contacts")."""

    def save(self) -> None:
        """Store the progress now, inside the caller's transaction if there is one."""

    def checkpoint(self) -> None:
        """At every batch boundary: may raise to stop the work (cancelled, taken over, worker stopping)."""


class NoProgress:
    """A ``ProgressReporter`` for work nobody watches: it counts and never stops the work."""

    def __init__(self):
        self.total = 0
        self.done = 0

    def set_total(self, total):
        self.total = max(int(total), 0)

    def set_done(self, done):
        self.done = max(self.done, int(done))

    def advance(self, n=1):
        self.done += n

    def step(self, text):
        pass

    def save(self):
        pass

    def checkpoint(self):
        pass


class Progress:
    """A job's ``ProgressReporter``: what its handler reports while it works (total, done, current step).

    A heartbeat thread writes these to the job row every few seconds through its own database connection, so a
    handler inside a long read transaction (export) still shows progress, and writes nothing on its own
    connection. Handlers whose batches are write transactions may also call ``save()`` (or ``commit()``, which
    also stores where to resume) to store progress inside the batch transaction itself.

    Without a heartbeat thread (a job run inline inside a transaction, as tests do: another connection could not
    see the uncommitted job row), ``checkpoint()`` does the heartbeat's work itself on the caller's connection.
    """

    def __init__(self, job, heartbeat=True):
        self.job = job
        self.attempt = job.attempts
        self.total = job.progress_total
        self.done = job.progress_done
        self.step_text = job.step
        self.heartbeat = heartbeat
        self._cancel_seen = False
        self._lease_lost = False
        self._stop = threading.Event()
        self._thread = None

    # --- what handlers call -------------------------------------------------------------------------------
    def set_total(self, total):
        self.total = max(int(total), 0)

    def advance(self, n=1):
        self.done += n

    def set_done(self, done):
        self.done = max(self.done, int(done))  # the bar never moves backwards, even across a resume

    def step(self, text):
        self.step_text = text[:200]

    def checkpoint(self):
        """Call at every batch boundary: raises if the job was cancelled, taken over, or the worker is stopping."""
        if not self.heartbeat:
            self._beat_once()
        if self._lease_lost:
            raise LeaseLost()
        if self._cancel_seen:
            raise JobCancelled()
        if _worker_stopping.is_set():
            raise WorkerStopping()

    def save(self):
        """Store progress and heartbeat now, on the caller's connection (inside its transaction, if any)."""
        self._write()

    def commit(self, cursor):
        """Inside a batch's transaction: store where a restarted run must carry on, with progress and heartbeat.

        The cursor lands in the same transaction as the batch's writes, so after a crash the job resumes exactly
        after the last batch that really committed. If another runner owns the job now, raises ``LeaseLost``
        and the caller's transaction (with the batch) is rolled back.
        """
        self.job.cursor = cursor
        if not self._write(cursor=cursor):
            raise LeaseLost()

    # --- the heartbeat ----------------------------------------------------------------------------------
    def _owned(self):
        return DataJob.objects.filter(pk=self.job.pk, state=DataJob.State.RUNNING, attempts=self.attempt)

    def _write(self, **extra):
        updated = self._owned().update(
            heartbeat_at=timezone.now(),
            # Never lower: the heartbeat thread may read ``done`` just before a batch advances and saves it, then
            # write its older value after that batch committed.
            progress_done=Greatest(F("progress_done"), Value(self.done)),
            progress_total=self.total,
            step=self.step_text,
            **extra,
        )
        if not updated:
            self._lease_lost = True
        return updated

    def _beat_once(self):
        if self._write():
            self._cancel_seen = DataJob.objects.filter(pk=self.job.pk, cancel_requested=True).exists()

    def _beat(self):
        try:
            while not self._stop.wait(settings.KEEL_JOB_HEARTBEAT_SECONDS):
                try:
                    self._beat_once()
                except Exception:  # a busy database must not kill the heartbeat; the next beat tries again
                    logger.warning("heartbeat of job %s failed", self.job.pk, exc_info=True)
        finally:
            connection.close()

    def start(self):
        if not self.heartbeat:
            return
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-job-{self.job.pk}", daemon=True)
        self._thread.start()

    def stop(self):
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=30)
            self._thread = None
