"""``keel delete-company --company SLUG [--yes]`` (the older ``keel delete-company SLUG`` works too): delete a
company and all its data, for operators, in the foreground."""

import argparse
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from keel.accounts.models import Company
from keel.datacontrol.actors import COMMAND_LINE
from keel.datacontrol.company_deletion.actions import do_resume_company_deletion, do_start_company_deletion
from keel.datacontrol.company_deletion.preflight import deletion_blockers, deletion_counts
from keel.datacontrol.company_deletion.receipt import receipt_text, status_payload
from keel.datacontrol.models import DeletionReceipt
from keel.errors import KeelError
from keel.jobs.cli import run_in_foreground

# After an error the job is queued again (a deletion is never given up); here, in the foreground, it is run again
# after this pause rather than at once, so that a lasting fault (e.g. the mail server down) does not spin.
RETRY_PAUSE_SECONDS = 10


class Command(BaseCommand):
    help = (
        "Permanently delete a company and all its data, in the foreground with a progress bar, and print the "
        "deletion receipt. Run it again on a company already being deleted to resume the deletion."
    )
    stealth_options = ("stdin",)

    def add_arguments(self, parser):
        parser.add_argument("--company", metavar="SLUG", help="the company's slug")
        # The older positional form, kept so that scripts written for it keep working.
        parser.add_argument("slug", nargs="?", help=argparse.SUPPRESS)
        parser.add_argument("--yes", action="store_true", help="do not ask for the typed company name")

    def handle(self, slug=None, company=None, yes=False, **options):
        if (slug is None) == (company is None) or (slug and company and slug != company):
            raise CommandError("Name the company once: keel delete-company --company SLUG.")
        slug = company or slug
        company = Company.objects.filter(slug=slug).first()
        if company is None:
            raise CommandError(f"No company has the slug “{slug}”.")
        try:
            if company.is_active:
                job = self.start(company, yes, options.get("stdin") or sys.stdin)
            else:
                self.stdout.write(f"“{company.name}” is already being deleted; resuming the deletion.")
                job = do_resume_company_deletion(company, actor=COMMAND_LINE)
        except KeelError as exc:
            raise CommandError(exc.message) from None
        receipt = DeletionReceipt.objects.get(receipt_id=job.params["receipt_id"])
        self.run_with_progress(job, receipt)
        receipt.refresh_from_db()
        if receipt.state != DeletionReceipt.State.SUCCEEDED:
            raise CommandError(f"The deletion did not finish: {receipt.step} Run the command again to resume it.")
        self.stdout.write(self.style.SUCCESS("System confirmation: the company's data has been deleted."))
        self.stdout.write(receipt_text(receipt))

    def start(self, company, yes, stdin):
        counts = {entity: n for entity, n in deletion_counts(company).items() if n}
        self.stdout.write(f"Deleting “{company.name}” (id {company.pk}) permanently removes:")
        for entity, n in counts.items():
            self.stdout.write(f"  {entity.replace('_', ' '):<28} {n:>12}")
        self.stdout.write("  and every stored file of the company. This cannot be undone.")
        blockers = deletion_blockers(company)
        if blockers:
            lines = "\n".join(f"  - {b.message}" for b in blockers)
            raise CommandError(f"The company cannot be deleted yet. Complete or stop active processes first:\n{lines}")
        if not yes:
            self.stdout.write("Type the company's name to confirm: ", ending="")
            self.stdout.flush()
            typed = stdin.readline().strip()
            if typed != company.name:
                raise CommandError("The name typed does not match the company's name; nothing was deleted.")
        started = do_start_company_deletion(company, actor=COMMAND_LINE)
        self.stdout.write(f"Status page (no login needed): {settings.SITE_URL}{started.status_path}")
        return started.job

    def run_with_progress(self, job, receipt):
        """Run the job here; if a worker already has it, follow it until it ends. The bar is the receipt's: the
        job row itself is deleted when the deletion completes."""

        def receipt_progress(job):
            current = DeletionReceipt.objects.get(pk=receipt.pk)
            return status_payload(current)["progress"]["percent"], current.step

        run_in_foreground(
            job,
            self.stdout,
            describe=receipt_progress,
            pause=lambda job: RETRY_PAUSE_SECONDS,
            on_retry=self.announce_retry,
        )

    def announce_retry(self, job, seconds):
        self.stderr.write(
            f"An error interrupted the deletion (the log has the details); trying again in {seconds} s. "
            "Press Ctrl+C to stop; run the command again to resume."
        )
