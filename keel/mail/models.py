"""The e-mail outbox: every message Keel sends is a row here first, written in the transaction of the change that
caused it, then delivered by a background task (keel/mail/tasks.py) that retries with back-off (docs/operations.md,
"E-mail")."""

from django.db import models
from django.utils import timezone


class OutgoingEmail(models.Model):
    class State(models.TextChoices):
        QUEUED = "queued"  # waiting for its (next) attempt
        SENDING = "sending"  # a worker is handing it to the mail server
        SENT = "sent"
        FAILED = "failed"  # gave up after KEEL_EMAIL_MAX_ATTEMPTS attempts

    class Kind(models.TextChoices):
        INVITATION = "invitation", "invitation or set-password link"
        NOTICE = "notice", "notice of a finished job"
        DELETION_CODE = "deletion_code", "company deletion code"
        DELETION_STATUS = "deletion_status", "company deletion status link"
        DELETION_CONFIRMATION = "deletion_confirmation", "company deletion system confirmation"

    kind = models.CharField(max_length=30, choices=Kind.choices)
    # Plain ids, not foreign keys: the system confirmation must outlive its company, and erasing a company's users
    # (keel/datacontrol/eraser.py) must not wait for its e-mails. Company deletion erases the company's rows.
    company_id = models.BigIntegerField(null=True, blank=True)
    user_id = models.BigIntegerField(null=True, blank=True)
    to = models.CharField(max_length=254)
    subject = models.CharField(max_length=300)
    # Emptied once the message is sent or given up: a body may carry a set-password link.
    text = models.TextField(blank=True)
    html = models.TextField(blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["state", "next_attempt_at"], name="mail_state_due"),
            models.Index(fields=["user_id", "kind"], name="mail_user_kind"),
            models.Index(fields=["company_id"], name="mail_company"),
        ]

    def __str__(self):
        return f"{self.kind} to {self.to} ({self.state})"

    @property
    def status_text(self):
        """What an administrator reads about the delivery (Admin Settings → Users, the user API object)."""
        if self.state == self.State.SENT:
            return "e-mail sent"
        if self.last_error:
            retry = " (retrying)" if self.state != self.State.FAILED else ""
            return f"e-mail not delivered: {self.last_error}{retry}"
        return "e-mail queued"
