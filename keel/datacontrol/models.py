import uuid

from django.db import models
from django.utils import timezone

from keel.tenancy import TenantModel


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
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta(TenantModel.Meta):
        pass


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
