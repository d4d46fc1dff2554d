"""``keel restore ARCHIVE --company SLUG``: the restore job in the foreground, with a progress bar and the report."""

from django.core.files import File
from django.core.management.base import BaseCommand, CommandError

from keel.accounts.models import Company
from keel.datacontrol.actors import COMMAND_LINE
from keel.datacontrol.restore.actions import do_start_restore
from keel.datacontrol.restore.encryption import add_secret_arguments, read_secrets
from keel.errors import KeelError
from keel.jobs.cli import run_in_foreground


class Command(BaseCommand):
    help = "Restore a Keel export archive into an empty company, in the foreground (docs/restore.md)."

    def add_arguments(self, parser):
        parser.add_argument("archive", help="the .zip file of a Keel export")
        parser.add_argument("--company", required=True, help="the slug of the company to restore into")
        parser.add_argument("--invite-users", action="store_true", help="e-mail the archive's users an invitation")
        parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
        add_secret_arguments(parser)

    def handle(self, archive, company, invite_users, yes, passphrase_file, identity_file, **options):
        target = Company.objects.filter(slug=company).first()
        if target is None:
            raise CommandError(f"No company has the slug “{company}”.")
        if not yes and input(f"Restore {archive} into {target.name}? Type yes: ").strip().lower() != "yes":
            raise CommandError("Nothing was restored.")
        secrets = read_secrets(passphrase_file, identity_file)
        try:
            with open(archive, "rb") as handle:
                upload = File(handle, name=archive)
                job = do_start_restore(target, upload, actor=COMMAND_LINE, invite_users=invite_users, **secrets)
        except OSError as exc:
            raise CommandError(f"Cannot read {archive}: {exc.strerror}.") from None
        except KeelError as exc:
            raise CommandError(exc.message) from None
        job = run_in_foreground(job, self.stderr)
        if job.state != job.State.SUCCEEDED:
            raise CommandError(job.error or f"The restore ended {job.state}.")
        self._report(job.result)

    def _report(self, result):
        self.stdout.write(result["summary"])
        for entity, rows in result["rows"].items():
            self.stdout.write(f"  {entity}: {rows:,}")
        for row in result["skipped"]:
            self.stdout.write(f"  skipped {row['entity']} {row['row']}: {row['reason']}")
