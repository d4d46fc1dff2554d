from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from keel.tenancy import TenantModel


class DataJob(TenantModel):
    """Every long operation of a company: import, export, restore, CRM deletion, company deletion, and the deletion
    of a large selection of contacts (docs/jobs.md)."""

    class Kind(models.TextChoices):
        IMPORT = "import", "Import of contacts"
        EXPORT = "export", "Export of company data"
        CRM_DELETION = "crm_deletion", "Deletion of all CRM records"
        COMPANY_DELETION = "company_deletion", "Deletion of company data"
        RESTORE = "restore", "Restore from an export"
        CONTACT_DELETION = "contact_deletion", "Deletion of contacts"

    class State(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    # At most one active job of these kinds per company: enforced by the database (constraint below). A deletion of
    # contacts is one of them: no import can rewrite the contacts it is deleting, and no CRM deletion, restore or
    # company deletion can start under it and make its batches be refused (docs/crm.md, "Bulk actions").
    EXCLUSIVE_KINDS = (Kind.IMPORT, Kind.CRM_DELETION, Kind.COMPANY_DELETION, Kind.RESTORE, Kind.CONTACT_DELETION)
    # A deletion that has started must finish: its lock on imports, and its users' loss of access, hold until it
    # does. Such jobs are never given up after crashes or internal errors; they are retried with a capped backoff.
    MUST_FINISH_KINDS = (Kind.CRM_DELETION, Kind.COMPANY_DELETION)
    ACTIVE_STATES = (State.QUEUED, State.RUNNING)
    FINAL_STATES = (State.SUCCEEDED, State.FAILED, State.CANCELLED)

    kind = models.CharField(max_length=20, choices=Kind.choices)
    state = models.CharField(max_length=12, choices=State.choices, default=State.QUEUED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    params = models.JSONField(default=dict, blank=True)
    progress_done = models.BigIntegerField(default=0)
    progress_total = models.BigIntegerField(default=0)
    step = models.CharField(max_length=200, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    cancel_requested = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, help_text="a sentence for the user; tracebacks go to the log only")
    result = models.JSONField(default=dict, blank=True)
    # Where a restarted run carries on. Written only by Progress.commit(), inside the same transaction as the
    # batch of work it describes, so it can never claim work that was rolled back (the heartbeat never touches it).
    cursor = models.JSONField(default=dict, blank=True)

    class Meta(TenantModel.Meta):
        indexes = TenantModel.Meta.indexes + [models.Index(fields=["state", "heartbeat_at"], name="datajob_reap")]
        constraints = [
            models.UniqueConstraint(
                fields=["company"],
                condition=Q(
                    state__in=["queued", "running"],
                    kind__in=["import", "crm_deletion", "company_deletion", "restore", "contact_deletion"],
                ),
                name="one_active_exclusive_job_per_company",
            )
        ]

    def __str__(self):
        return f"{self.kind} job {self.pk} ({self.state})"

    @property
    def is_active(self):
        return self.state in self.ACTIVE_STATES

    @property
    def is_final(self):
        return self.state in self.FINAL_STATES

    @property
    def percent(self):
        if self.state == self.State.SUCCEEDED:
            return 100
        if not self.progress_total:
            return 0
        return min(100, int(self.progress_done * 100 / self.progress_total))

    @property
    def summary(self):
        """The handler's one-sentence account of what the job did (``result["summary"]``), if it gave one."""
        return (self.result or {}).get("summary", "")

    @property
    def outcome(self):
        """What the progress component says once the job has ended."""
        if self.state == self.State.SUCCEEDED:
            return self.summary or "Completed."
        if self.state == self.State.CANCELLED:
            return " ".join(part for part in ("Cancelled.", self.summary) if part)
        if self.state == self.State.FAILED:
            return self.error or "Failed."
        return ""


class JobOutboxEntry(models.Model):
    """A completion side effect of a job (an audit event, a notice and e-mail, a hook), written in the same
    transaction as the job's final state and delivered afterwards (keel.jobs.outbox; docs/jobs.md, "Completion
    side effects"). Delivered entries are deleted, so the table holds only what is still to be done.

    Global, not tenant-owned: a company deletion's confirmation must be delivered after its company row is gone.
    No foreign keys for the same reason; ``company_id`` (when there is still a company) lets a company deletion
    drop its company's entries."""

    job_id = models.BigIntegerField(db_index=True)
    job_kind = models.CharField(max_length=20)
    company_id = models.BigIntegerField(null=True, blank=True)
    effect = models.CharField(max_length=20)
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0)  # failed deliveries so far
    retry_at = models.DateTimeField(null=True, blank=True)  # after a failed delivery: not before then
    last_error = models.TextField(blank=True)

    def __str__(self):
        return f"{self.effect} of {self.job_kind} job {self.job_id}"
