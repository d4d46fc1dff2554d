"""``keel delete-crm-records --company SLUG [--yes]``: Delete all CRM records, for operators, in the foreground."""

import sys

from django.core.management.base import BaseCommand, CommandError

from keel.accounts.models import Company
from keel.datacontrol.actors import COMMAND_LINE
from keel.datacontrol.crm_deletion.actions import CONFIRMATION_TEXT, do_start_crm_deletion
from keel.datacontrol.crm_deletion.preflight import active_crm_deletion, crm_counts, describe, summarize
from keel.errors import KeelError
from keel.jobs.cli import run_in_foreground
from keel.jobs.models import DataJob


class Command(BaseCommand):
    help = (
        "Permanently delete every CRM contact of a company with all its data and history, in the foreground with "
        "a progress bar. Run it again while a deletion is unfinished to follow (or resume) that deletion."
    )
    stealth_options = ("stdin",)

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
        # Run here (a worker that claims it first runs it instead); a retry after an error or a crash waits the same
        # growing pause a worker would (a deletion that has started is retried until it finishes).
        job = run_in_foreground(job, self.stderr)
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
            job = do_start_crm_deletion(company, actor=COMMAND_LINE)
        except KeelError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"Deletion job {job.pk} started.")
        return job
