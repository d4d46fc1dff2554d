"""``keel rotate-encryption-key``: re-encrypt every stored integration credential with the newest key."""

from django.core.management.base import BaseCommand, CommandError

from keel.integrations import crypto
from keel.integrations.models import IntegrationConnection


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored integration credential with the first (newest) key of KEEL_ENCRYPTION_KEYS. "
        "Run it after putting a new key in front; remove an old key only once this reports nothing unreadable."
    )

    def handle(self, **options):
        rotated, current, unreadable = 0, 0, []
        stored = IntegrationConnection.objects.exclude(encrypted_access_token="").select_related("company")
        for connection in stored.only("pk", "provider", "encrypted_access_token", "company__slug").iterator():
            token = connection.encrypted_access_token
            if crypto.is_current(token):
                current += 1
                continue
            try:
                new_token = crypto.reencrypt(token)
            except crypto.UnreadableCredential:
                unreadable.append(connection)
                continue
            # Compare and set: a credential replaced meanwhile (reconnected) is left as its writer stored it.
            rotated += IntegrationConnection.objects.filter(pk=connection.pk, encrypted_access_token=token).update(
                encrypted_access_token=new_token
            )
        self.stdout.write(f"Re-encrypted {rotated} credential(s) with the newest key; {current} already used it.")
        if unreadable:
            listed = "\n".join(f"  - {c.company.slug}: {c.provider} (connection {c.pk})" for c in unreadable)
            raise CommandError(
                f"{len(unreadable)} credential(s) cannot be decrypted with any key in KEEL_ENCRYPTION_KEYS: the key "
                f"they were encrypted with has been removed. Add it back (after the newest) and run this command "
                f"again; until then these integrations cannot be revoked:\n{listed}"
            )
