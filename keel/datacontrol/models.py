import uuid

from django.db import models
from django.utils import timezone

from keel.tenancy import TenantModel


class EncryptionMode(models.TextChoices):
    NONE = "none"
    RECIPIENTS = "recipients"
    PASSPHRASE = "passphrase"


class ExportArchive(TenantModel):
    """The archive an export job produced (or is producing), its checksum and its expiry."""

    class Status(models.TextChoices):
        PENDING = "pending"
        READY = "ready"
        EXPIRED = "expired"
        DELETED = "deleted"
        FAILED = "failed"

    job = models.OneToOneField("jobs.DataJob", on_delete=models.CASCADE, related_name="export_archive")
    requested_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    scope = models.JSONField(default=list)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    file_path = models.CharField(max_length=400, blank=True, help_text="storage name, set once complete")
    size = models.PositiveBigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    row_counts = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="none for a kept scheduled backup")
    # A run of the company's backup schedule (docs/backups.md): ``scheduled_for`` is the period it was due for, one
    # run per period (a unique constraint); None for "Run now".
    scheduled = models.BooleanField(default=False)
    scheduled_for = models.DateTimeField(null=True, blank=True)
    # Encryption with age: the recipients' public keys, or a passphrase kept encrypted at rest (Fernet, as
    # integration credentials) only until the archive is written, then erased.
    encryption_mode = models.CharField(max_length=12, choices=EncryptionMode.choices, default=EncryptionMode.NONE)
    encryption_recipients = models.JSONField(default=list, blank=True)
    encrypted_passphrase = models.TextField(blank=True)
    encrypted_size = models.PositiveBigIntegerField(null=True, blank=True)
    encrypted_sha256 = models.CharField(max_length=64, blank=True, help_text="of the .zip.age file delivered")
    # Delivery to the company's own bucket: "" (kept in Keel), pending, delivered or failed.
    delivery_state = models.CharField(max_length=12, blank=True)
    delivered_to = models.CharField(max_length=1100, blank=True, help_text="s3://bucket/key Keel wrote")
    delivery_error = models.CharField(max_length=500, blank=True)

    secret_fields = ("encrypted_passphrase",)

    class Meta(TenantModel.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["company", "scheduled_for"],
                condition=models.Q(scheduled_for__isnull=False),
                name="one_scheduled_export_per_period",
            )
        ]

    @property
    def is_encrypted(self):
        return self.encryption_mode != EncryptionMode.NONE


class BackupSchedule(TenantModel):
    """A company's scheduled backups: when, what, how encrypted, and where to (docs/backups.md).

    It belongs to the company, not to the administrator who set it: ``updated_by`` is only shown on the page.
    """

    class Frequency(models.TextChoices):
        DAILY = "daily"
        WEEKLY = "weekly"
        MONTHLY = "monthly"

    class Destination(models.TextChoices):
        KEEL = "keel"
        S3 = "s3"

    enabled = models.BooleanField(default=True)
    frequency = models.CharField(max_length=8, choices=Frequency.choices, default=Frequency.WEEKLY)
    weekday = models.PositiveSmallIntegerField(default=0, help_text="0 = Monday … 6 = Sunday (weekly)")
    day_of_month = models.PositiveSmallIntegerField(default=1, help_text="1–31; the month's last day when shorter")
    hour_utc = models.PositiveSmallIntegerField(default=2)
    scope = models.JSONField(default=list)
    keep = models.PositiveSmallIntegerField(default=4)
    encryption_mode = models.CharField(max_length=12, choices=EncryptionMode.choices, default=EncryptionMode.NONE)
    encryption_recipients = models.JSONField(default=list, blank=True)
    encrypted_passphrase = models.TextField(blank=True)
    destination_kind = models.CharField(max_length=8, choices=Destination.choices, default=Destination.KEEL)
    endpoint_url = models.CharField(max_length=500, blank=True)
    region = models.CharField(max_length=64, blank=True)
    bucket = models.CharField(max_length=63, blank=True)
    prefix = models.CharField(max_length=500, blank=True)
    access_key_id = models.CharField(max_length=128, blank=True)
    encrypted_secret_access_key = models.TextField(blank=True)
    next_run_at = models.DateTimeField(null=True, blank=True)
    updated_by = models.ForeignKey("accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(default=timezone.now)

    secret_fields = ("encrypted_passphrase", "encrypted_secret_access_key")

    class Meta(TenantModel.Meta):
        constraints = [models.UniqueConstraint(fields=["company"], name="one_backup_schedule_per_company")]
        # The worker asks every few seconds which schedules are due.
        indexes = [*TenantModel.Meta.indexes, models.Index(fields=["next_run_at"], name="backupschedule_due")]


class DeletionReceipt(models.Model):
    """Global: the tombstone of a company deletion. It outlives the company and holds no personal data.

    The status link's token is stored hashed; the counts and times are what the requester is sent as the
    system confirmation.
    """

    class State(models.TextChoices):
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    receipt_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    company_id_deleted = models.BigIntegerField(db_index=True)
    status_token_hash = models.CharField(max_length=64, unique=True)
    state = models.CharField(max_length=12, choices=State.choices, default=State.RUNNING)
    progress_done = models.BigIntegerField(default=0)
    progress_total = models.BigIntegerField(default=0)
    rows_deleted = models.JSONField(default=dict, blank=True)
    files_deleted = models.PositiveIntegerField(default=0)
    # Counted once, when the job first starts on the frozen company: what the deletion has to remove. The final
    # counts are never below these, even when a crash lost the tally of a batch that was deleted.
    rows_planned = models.JSONField(default=dict, blank=True)
    files_total = models.PositiveIntegerField(null=True, blank=True)
    step = models.CharField(max_length=200, blank=True, help_text="what the deletion is doing; no personal data")
    requested_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    secret_fields = ("status_token_hash",)

    def __str__(self):
        return f"deletion receipt {self.receipt_id}"
