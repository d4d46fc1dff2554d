"""``keel import --company SLUG FILE``: the same import as CRM Contacts → Import, from the command line."""

import json
import os

from django.core.files import File
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from keel.accounts.models import Company, User
from keel.contacts.imports.actions import do_import_file
from keel.errors import KeelError
from keel.jobs.cli import run_in_foreground
from keel.jobs.models import DataJob


class Command(BaseCommand):
    help = "Import contacts from a CSV file into a company, with a progress bar (same checks as the import page)."

    def add_arguments(self, parser):
        parser.add_argument("file", help="the CSV file")
        parser.add_argument("--company", required=True, help="the company's slug")
        parser.add_argument(
            "--user", help="e-mail of the user the import is done as (default: the first Company Administrator)"
        )
        parser.add_argument("--mapping", help='columns to fields as JSON, e.g. {"Email": "email", "Firma": "company"}')
        parser.add_argument("--encoding", default="utf-8", help="the file's encoding when it is not UTF-8")
        parser.add_argument("--no-wait", action="store_true", help="leave the import to the worker and return")

    def handle(self, file, company, user, mapping, encoding, no_wait, **options):
        target = Company.objects.filter(slug=company).first()
        if target is None:
            raise CommandError(f"No company has the slug “{company}”.")
        actor = self._actor(target, user)
        try:
            mapping = json.loads(mapping) if mapping else None
        except ValueError:
            raise CommandError('--mapping must be JSON, for example \'{"Email": "email"}\'.') from None
        try:
            with open(file, "rb") as f:
                job = do_import_file(
                    target, File(f, name=os.path.basename(file)), actor=actor, mapping=mapping, encoding=encoding
                )
        except FileNotFoundError:
            raise CommandError(f"There is no file {file}.") from None
        except KeelError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"Import job {job.pk} started for {target.name}.")
        if no_wait:
            return
        job = run_in_foreground(job, self.stderr)  # a worker that claims it first runs it instead
        self.stdout.write(job.outcome)
        if job.result.get("error_report"):
            self.stdout.write(f"Error report: {reverse('contact_import_errors', args=[job.pk])}")
        if job.state != DataJob.State.SUCCEEDED:
            raise CommandError(f"The import ended {job.state}.")

    def _actor(self, company, email):
        users = User.objects.filter(company=company, is_active=True).select_related("role", "company")
        actor = users.filter(email=email.lower()).first() if email else users.filter(role__kind="admin").first()
        if actor is None:
            raise CommandError("No such active user in this company." if email else "The company has no active admin.")
        return actor
