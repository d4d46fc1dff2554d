"""``keel decrypt FILE``: turn an encrypted Keel export (``.zip.age``) back into its ZIP, as ``age -d`` would."""

import getpass
import os
import shutil
import sys

from django.core.management.base import BaseCommand, CommandError

from keel.datacontrol.restore.encryption import add_secret_arguments, is_encrypted, plain_archive, read_secrets
from keel.errors import KeelError


class Command(BaseCommand):
    help = (
        "Decrypt an encrypted Keel export (.zip.age) with its passphrase or an age identity, writing the ZIP next "
        "to it (or to --output). Without a secret file, the passphrase is asked for on the terminal."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="the .zip.age file of an encrypted Keel export")
        parser.add_argument("-o", "--output", help="where to write the ZIP (default: the file's name without .age)")
        add_secret_arguments(parser)

    def handle(self, file, output=None, passphrase_file=None, identity_file=None, **options):
        output = output or (file[: -len(".age")] if file.endswith(".age") else file + ".zip")
        if os.path.exists(output):
            raise CommandError(f"{output} already exists; choose another name with --output.")
        secrets = read_secrets(passphrase_file, identity_file)
        try:
            source = open(file, "rb")  # noqa: SIM115 (closed by the with block below)
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}.") from None
        with source:
            if not is_encrypted(source):
                raise CommandError(f"{file} is not encrypted with age: it is already the archive itself.")
            if not secrets and sys.stdin.isatty():
                secrets["passphrase"] = getpass.getpass("Passphrase: ")
            try:
                plain = plain_archive(source, **secrets)
            except KeelError as exc:
                raise CommandError(exc.message) from None
            with plain, open(output, "xb") as target:
                shutil.copyfileobj(plain, target, 1024 * 1024)
        self.stdout.write(f"Decrypted to {output}.")
