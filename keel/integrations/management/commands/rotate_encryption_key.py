"""``keel rotate-encryption-key``: re-encrypt every secret Keel stores encrypted at rest with the newest key."""

from django.core.management.base import BaseCommand, CommandError

from keel.datacontrol.models import BackupSchedule, ExportArchive
from keel.integrations import crypto
from keel.integrations.models import IntegrationConnection

# Every column holding a secret encrypted with keel.integrations.crypto, with how to name its row to an operator.
STORED_SECRETS = (
    (
        IntegrationConnection,
        "encrypted_access_token",
        lambda row: f"{row.company.slug}: {row.provider} (connection {row.pk})",
    ),
    (BackupSchedule, "encrypted_secret_access_key", lambda row: f"{row.company.slug}: backup bucket {row.bucket}"),
    (BackupSchedule, "encrypted_passphrase", lambda row: f"{row.company.slug}: backup passphrase"),
    (ExportArchive, "encrypted_passphrase", lambda row: f"{row.company.slug}: passphrase of export {row.pk}"),
)


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret (integration credentials, backup bucket keys and passphrases) with the first "
        "(newest) key of KEEL_ENCRYPTION_KEYS. Run it after putting a new key in front; remove an old key only once "
        "this reports nothing unreadable."
    )

    def handle(self, **options):
        rotated, current, unreadable = 0, 0, []
        for model, column, name in STORED_SECRETS:
            done, up_to_date, failed = rotate_column(model, column)
            rotated, current = rotated + done, current + up_to_date
            unreadable += [name(row) for row in failed]
        self.stdout.write(f"Re-encrypted {rotated} secret(s) with the newest key; {current} already used it.")
        if unreadable:
            listed = "\n".join(f"  - {item}" for item in unreadable)
            raise CommandError(
                f"{len(unreadable)} secret(s) cannot be decrypted with any key in KEEL_ENCRYPTION_KEYS: the key "
                f"they were encrypted with has been removed. Add it back (after the newest) and run this command "
                f"again; until then these cannot be used (integrations cannot be revoked, backups not delivered):"
                f"\n{listed}"
            )


def rotate_column(model, column):
    """(re-encrypted, already current, unreadable rows) for one column."""
    rotated, current, unreadable = 0, 0, []
    for row in model.objects.exclude(**{column: ""}).select_related("company").iterator():
        token = getattr(row, column)
        if crypto.is_current(token):
            current += 1
            continue
        try:
            new_token = crypto.reencrypt(token)
        except crypto.UnreadableCredential:
            unreadable.append(row)
            continue
        # Compare and set: a secret replaced meanwhile (reconnected, saved again) is left as its writer stored it.
        rotated += model.objects.filter(pk=row.pk, **{column: token}).update(**{column: new_token})
    return rotated, current, unreadable
