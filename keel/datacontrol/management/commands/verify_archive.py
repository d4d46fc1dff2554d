"""``keel verify-archive ARCHIVE``: check a Keel export archive offline, without writing to the database."""

import sys

from django.core.management.base import BaseCommand, CommandError

from keel.datacontrol.restore.archive import ATTACHMENT_INDEX, Archive
from keel.datacontrol.restore.encryption import add_secret_arguments, plain_archive, read_secrets
from keel.datacontrol.restore.verify import verify
from keel.errors import KeelError


class Command(BaseCommand):
    help = (
        "Check a Keel export archive: its manifest, every file's SHA-256, row count and header, and that every "
        "reference points at a row of the archive. Exits 0 when intact, 1 naming each problem otherwise."
    )

    def add_arguments(self, parser):
        parser.add_argument("archive", help="the .zip file of a Keel export (or its encrypted .zip.age)")
        add_secret_arguments(parser)

    def handle(self, archive, passphrase_file=None, identity_file=None, **options):
        try:
            handle = open(archive, "rb")  # noqa: SIM115 (closed below, after the archive that reads it)
        except OSError as exc:
            raise CommandError(f"Cannot read {archive}: {exc.strerror}.") from None
        with handle:
            try:
                opened = Archive(plain_archive(handle, **read_secrets(passphrase_file, identity_file)))
            except KeelError as exc:
                self.stderr.write(f"{archive}: {exc.message}")
                sys.exit(1)
            problems = verify(opened)
            self._print(opened, problems)
        if problems:
            self.stderr.write(f"{len(problems)} problems: the archive is damaged. Do not rely on it as a backup.")
            sys.exit(1)
        source = opened.source
        self.stdout.write(
            f"Intact: the export of {source['company']} made {source['created_at']} (Keel {source['keel_version']})."
        )

    def _print(self, archive, problems):
        by_path = {}
        for problem in problems:
            by_path.setdefault(problem.path, []).append(problem.message)
        for entity, entry in archive.files.items():
            path = entry["path"]
            label = "files" if entity == ATTACHMENT_INDEX else "rows"
            if path in by_path:
                for message in by_path.pop(path):
                    self.stdout.write(f"DAMAGED  {path}: {message}")
            else:
                self.stdout.write(f"ok       {path} ({entry['rows']:,} {label}, SHA-256 matches)")
        for path, messages in by_path.items():  # stored files named by attachments/index.csv
            for message in messages:
                self.stdout.write(f"DAMAGED  {path}: {message}")
