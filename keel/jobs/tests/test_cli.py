"""keel.jobs.cli: the command-line progress bar and running a job in the foreground."""

import io

from django.core.management.base import OutputWrapper

from keel.jobs.cli import BarProgress, ProgressBar, bar_line, run_in_foreground
from keel.jobs.models import DataJob
from keel.jobs.progress import JobFailed
from keel.jobs.registry import HANDLERS, JobHandler
from keel.jobs.tasks import create_job

EXPORT = DataJob.Kind.EXPORT


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_bar_line_shows_a_job_s_whole_percent_or_a_precise_one():
    assert bar_line(0, "Counting") == "[..............................]   0 %  Counting"
    assert bar_line(50, "Half") == "[###############...............]  50 %  Half"
    assert bar_line(100) == "[##############################] 100 %"
    assert bar_line(42.25, "3/7") == "[############..................]  42.2%  3/7"


def test_off_a_terminal_each_new_line_is_printed_once():
    out = io.StringIO()
    bar = ProgressBar(out, log_interval=0)
    for percent in (10, 10, 20):
        bar.show(percent, "Working")
    bar.close()
    assert out.getvalue().splitlines() == [bar_line(10, "Working"), bar_line(20, "Working")]


def test_on_a_terminal_the_line_is_redrawn_in_place_at_most_every_interval():
    out = Terminal()
    bar = ProgressBar(out, interval=60)
    bar.show(10, "A longer step")
    bar.show(20, "Skipped: too soon")
    bar.show(30, "Short", force=True)
    bar.close()
    first, second = bar_line(10, "A longer step"), bar_line(30, "Short")
    assert out.getvalue() == f"\r{first}\r{second.ljust(len(first))}\n"


def test_a_command_s_output_wrapper_gets_no_newline_added():
    out = Terminal()
    bar = ProgressBar(OutputWrapper(out))
    bar.show(100, "Done")
    assert out.getvalue() == "\r" + bar_line(100, "Done")


def test_bar_progress_draws_work_done_without_a_job():
    out = io.StringIO()
    progress = BarProgress(ProgressBar(out))
    progress.set_total(4)
    progress.step("Writing contacts.csv")
    progress.advance(3)
    progress.set_done(1)  # never backwards
    progress.checkpoint()
    progress.finish()
    assert progress.done == 4
    assert out.getvalue().splitlines()[-1] == bar_line(100.0, "4/4  Writing contacts.csv")


def test_run_in_foreground_runs_the_job_here_and_retries_it_after_an_error(transactional_db, company, monkeypatch):
    runs = []

    def run(job, progress):
        runs.append(job.attempts)
        if len(runs) == 1:
            raise RuntimeError("a passing fault")
        progress.set_total(2)
        progress.step("Exporting")
        progress.advance(2)
        job.result = {"ok": True}

    monkeypatch.setitem(HANDLERS, EXPORT, JobHandler(run=run))
    job = create_job(company, EXPORT, company.admin)
    out = io.StringIO()
    finished = run_in_foreground(job, out, pause=lambda job: 0)
    assert finished.state == DataJob.State.SUCCEEDED and finished.result == {"ok": True}
    assert runs == [1, 2]
    assert out.getvalue().splitlines()[-1] == bar_line(100, "Exporting")


def test_run_in_foreground_returns_a_failed_job_with_its_error(transactional_db, company, monkeypatch):
    def run(job, progress):
        raise JobFailed("The file is gone.")

    monkeypatch.setitem(HANDLERS, EXPORT, JobHandler(run=run))
    job = create_job(company, EXPORT, company.admin)
    finished = run_in_foreground(job, io.StringIO())
    assert finished.state == DataJob.State.FAILED and finished.error == "The file is gone."
