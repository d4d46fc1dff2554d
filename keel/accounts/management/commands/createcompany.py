from django.core.management.base import BaseCommand, CommandError

from keel.accounts.actions import check_password_strength, do_create_company
from keel.errors import KeelError


class Command(BaseCommand):
    help = "Create a company with its built-in roles and its first Company Administrator; prints the company id."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True, help="the company's name (unique)")
        parser.add_argument("--admin-email", required=True, help="e-mail of the first Company Administrator")
        parser.add_argument("--admin-password", required=True, help="their password (at least 8 characters)")
        parser.add_argument("--admin-name", default="", help="their name (optional)")
        parser.add_argument("--plan", default="standard", help="free, standard or enterprise (default: standard)")

    def handle(self, name, admin_email, admin_password, admin_name, plan, **options):
        try:
            check_password_strength(admin_password, field="admin_password")
            company, _admin = do_create_company(name, admin_email, admin_password, plan=plan, admin_name=admin_name)
        except KeelError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(str(company.pk))
