"""The e-mails of a company deletion: the one-time code, the status link, and the system confirmation.

All three are queued in the outbox (keel/mail) and sent by a background task. The system confirmation is queued
in the deletion's final transaction with no company id, so it outlives the company's rows and is retried until
the mail server takes it (docs/company-deletion.md)."""

from django.urls import reverse

from keel.datacontrol.company_deletion.receipt import receipt_text
from keel.mail.models import OutgoingEmail
from keel.mail.outbox import absolute_url, queue_email


def send_code(email, code, minutes, *, company_id=None):
    context = {"code": code, "minutes": minutes}
    queue_email(email, OutgoingEmail.Kind.DELETION_CODE, "deletion_code", context, company_id=company_id)


def send_status_link(email, token):
    # No company id: the link is the admin's only way back once the company's rows are gone.
    link = absolute_url(reverse("deletion_status", args=[token]))
    queue_email(email, OutgoingEmail.Kind.DELETION_STATUS, "deletion_status", {"link": link})


def send_confirmation_of(email, receipt_id):
    """The system confirmation, delivered from the job outbox once the company is gone (keel.jobs.outbox)."""
    from keel.datacontrol.models import DeletionReceipt

    send_confirmation(email, DeletionReceipt.objects.get(receipt_id=receipt_id))


def send_confirmation(email, receipt):
    """Queue the system confirmation; a deletion started from the command line has no requester to e-mail."""
    if not email:
        return
    context = {"receipt_text": receipt_text(receipt)}
    queue_email(email, OutgoingEmail.Kind.DELETION_CONFIRMATION, "deletion_confirmation", context)
