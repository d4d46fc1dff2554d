"""``keel delete-crm-records --company SLUG [--yes]``: Delete all CRM records, for operators, in the foreground."""

import sys
import threading

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from keel.accounts.models import Company
from keel.datacontrol.crm_deletion import (
    CONFIRMATION_TEXT,
    active_crm_deletion,
    crm_counts,
    describe,
    start_crm_deletion,
    summarize,
)
from keel.errors import KeelError
from keel.jobs.models import DataJob
from keel.jobs.runner import reap_stale_jobs, retry_delay, run_job

BAR_WIDTH = 30


class Command(BaseCommand):
    help = (
        "Permanently delete every CRM contact of a company with all its data and history, in the foreground with "
        "a progress bar. Run it again while a deletion is unfinished to follow (or resume) that deletion."
    )
    stealth_options = ("stdin",)
    _last_line = None

    def add_arguments(self, parser):
        parser.add_argument("--company", required=True, help="the company's slug")
        parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    def handle(self, company, yes=False, **options):
        target = Company.objects.filter(slug=company).first()
        if target is None:
            raise CommandError(f"No company has the slug “{company}”.")
        job = active_crm_deletion(target)
        if job is not None:
            self.stdout.write(f"All CRM records of “{target.name}” are already being deleted (job {job.pk}).")
        else:
            job = self.start(target, yes, options.get("stdin") or sys.stdin)
        job = self.run_with_progress(job)
        if job.state != DataJob.State.SUCCEEDED:
            raise CommandError(f"The deletion ended {job.state}: {job.error or job.outcome}")
        self.stdout.write(self.style.SUCCESS(job.outcome))

    def start(self, company, yes, stdin):
        summary = summarize(crm_counts(company))
        self.stdout.write(f"Deleting all CRM records of “{company.name}” removes {describe(summary)}.")
        self.stdout.write(CONFIRMATION_TEXT)
        if not yes:
            self.stdout.write("Type yes to delete, anything else to stop: ", ending="")
            self.stdout.flush()
            if stdin.readline().strip().lower() != "yes":
                raise CommandError("Nothing was deleted.")
        try:
            job = start_crm_deletion(company, actor_label="command line")
        except KeelError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"Deletion job {job.pk} started.")
        return job

    def run_with_progress(self, job):
        """Run the job here (a worker that claims it first runs it instead) and draw its progress meanwhile."""
        stop = threading.Event()
        drawer = threading.Thread(target=self.draw_until, args=(job.pk, stop), daemon=True)
        drawer.start()
        try:
            while True:
                job.refresh_from_db()
                if job.is_final:
                    break
                if job.state == DataJob.State.QUEUED:
                    # A retry after an error or a crash is queued again: run it here too, after the same growing
                    # pause a worker would wait (a deletion that has started is retried until it finishes).
                    if job.attempts and stop.wait(retry_delay(job)):
                        break
                    run_job(job.pk)
                else:
                    reap_stale_jobs()  # a worker running it may have died; without a worker nobody else reaps
                    stop.wait(0.5)
        finally:
            stop.set()
            drawer.join()
        self.draw(job)
        if self.stderr.isatty():
            self.stderr.write("")
        return job

    def draw_until(self, job_pk, stop):
        """Redraw the bar while the job runs (own connection); the final state is drawn by the caller."""
        try:
            while not stop.wait(0.3):
                job = DataJob.objects.filter(pk=job_pk).first()
                if job is not None:
                    self.draw(job)
        finally:
            connection.close()

    def draw(self, job):
        step = job.step or job.get_state_display()
        line = f"[{'#' * (job.percent * BAR_WIDTH // 100):<{BAR_WIDTH}}] {job.percent:3d} %  {step[:60]}"
        if line == self._last_line:
            return
        tty = self.stderr.isatty()
        self.stderr.write(("\r" if tty else "") + line.ljust(80), ending="" if tty else "\n")
        self.stderr.flush()
        self._last_line = line
