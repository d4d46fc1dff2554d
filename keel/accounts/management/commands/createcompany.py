import getpass
import sys

from django.core.management.base import BaseCommand, CommandError

from keel.accounts.actions import check_password_strength, do_create_company
from keel.errors import KeelError


class Command(BaseCommand):
    stealth_options = ("stdin",)
    help = "Create a company with its built-in roles and its first Company Administrator; prints the company id."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True, help="the company's name (unique)")
        parser.add_argument("--admin-email", required=True, help="e-mail of the first Company Administrator")
        password = parser.add_mutually_exclusive_group()
        password.add_argument("--admin-password", help="their password (at least 8 characters); seen by `ps`")
        password.add_argument(
            "--admin-password-file", metavar="FILE", help="read their password from the first line of FILE (- is stdin)"
        )
        parser.add_argument("--admin-name", default="", help="their name (optional)")
        parser.add_argument("--plan", default="standard", help="free, standard or enterprise (default: standard)")

    def handle(self, name, admin_email, admin_password, admin_name, plan, admin_password_file=None, **options):
        if admin_password is None:
            admin_password = self.password_from(admin_password_file, options.get("stdin") or sys.stdin)
        try:
            check_password_strength(admin_password, field="admin_password")
            company, _admin = do_create_company(name, admin_email, admin_password, plan=plan, admin_name=admin_name)
        except KeelError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(str(company.pk))

    def password_from(self, path, stdin):
        """The password from a file, or asked twice on the terminal (never shown, never in the shell's history)."""
        if path == "-":
            return stdin.readline().rstrip("\r\n")
        if path:
            try:
                with open(path, encoding="utf-8") as password_file:
                    return password_file.readline().rstrip("\r\n")
            except OSError as exc:
                raise CommandError(f"Cannot read --admin-password-file {path}: {exc.strerror}.") from None
        if not stdin.isatty():
            raise CommandError("Give the password: --admin-password-file FILE (- for stdin), or run on a terminal.")
        password = getpass.getpass("Password of the first Company Administrator: ")
        if getpass.getpass("The same password again: ") != password:
            raise CommandError("The two passwords differ; nothing was created.")
        return password
