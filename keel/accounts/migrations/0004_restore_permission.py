"""The Company Administrator role of every existing company gets "Restore company data from an export", which is on
by default there (new companies get it from keel.accounts.permissions.default_permissions)."""

from django.db import migrations

CODE = "restore_company_data"


def grant(apps, schema_editor):
    Role = apps.get_model("accounts", "Role")
    for role in Role.objects.filter(kind="admin"):
        if CODE not in role.permissions:
            role.permissions = sorted([*role.permissions, CODE])
            role.save(update_fields=["permissions"])


def revoke(apps, schema_editor):
    Role = apps.get_model("accounts", "Role")
    for role in Role.objects.filter(kind="admin"):
        if CODE in role.permissions:
            role.permissions = [code for code in role.permissions if code != CODE]
            role.save(update_fields=["permissions"])


class Migration(migrations.Migration):
    dependencies = [("accounts", "0003_sessions_and_attempt_counts")]

    operations = [migrations.RunPython(grant, revoke)]
