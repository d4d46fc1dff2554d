from django.db import models
from django.utils import timezone

from keel.tenancy import TenantModel


class Campaign(TenantModel):
    class Status(models.TextChoices):
        DRAFT = "draft"
        SCHEDULED = "scheduled"
        SENDING = "sending"
        SENT = "sent"
        STOPPED = "stopped"

    ACTIVE_STATUSES = (Status.SCHEDULED, Status.SENDING)

    name = models.CharField(max_length=150)
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    created_by = models.ForeignKey("accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Written by every sending batch: a campaign "sending" whose heartbeat went stale lost its worker and is
    # resumed by the worker's housekeeping (keel/marketing/tasks.py).
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta(TenantModel.Meta):
        pass

    def __str__(self):
        return self.name

    @property
    def accepts_recipients(self):
        return self.status in (self.Status.DRAFT, self.Status.STOPPED)


class CampaignRecipient(TenantModel):
    class Status(models.TextChoices):
        PENDING = "pending"
        SENT = "sent"
        OPENED = "opened"
        CLICKED = "clicked"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="recipients", db_index=False)
    contact = models.ForeignKey("contacts.Contact", on_delete=models.CASCADE, related_name="campaign_recipients")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    sent_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    clicked_at = models.DateTimeField(null=True, blank=True)

    class Meta(TenantModel.Meta):
        # Sending walks a campaign's pending recipients batch by batch; this keeps each batch an index range.
        indexes = TenantModel.Meta.indexes + [
            models.Index(fields=["campaign", "status", "id"], name="campaignrecipient_status")
        ]
        constraints = [models.UniqueConstraint(fields=["campaign", "contact"], name="campaign_recipient_unique")]


class Workflow(TenantModel):
    class Status(models.TextChoices):
        INACTIVE = "inactive"
        ACTIVE = "active"

    name = models.CharField(max_length=150)
    trigger = models.CharField(max_length=100, blank=True, help_text="what enrolls a contact")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.INACTIVE)
    created_by = models.ForeignKey("accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta(TenantModel.Meta):
        pass

    def __str__(self):
        return self.name


class WorkflowEnrollment(TenantModel):
    class State(models.TextChoices):
        ACTIVE = "active"
        COMPLETED = "completed"
        EXITED = "exited"

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="enrollments", db_index=False)
    contact = models.ForeignKey("contacts.Contact", on_delete=models.CASCADE, related_name="workflow_enrollments")
    state = models.CharField(max_length=16, choices=State.choices, default=State.ACTIVE)
    enrolled_at = models.DateTimeField(default=timezone.now)

    class Meta(TenantModel.Meta):
        constraints = [models.UniqueConstraint(fields=["workflow", "contact"], name="workflow_enrollment_unique")]
