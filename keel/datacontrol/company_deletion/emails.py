"""The e-mails of a company deletion: the one-time code, the status link, and the system confirmation."""

from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse

from keel.accounts.notify import send_email
from keel.datacontrol.company_deletion.receipt import receipt_text


def send_code(email, code, minutes):
    send_email(
        email,
        "Your code to confirm the deletion of your company's data",
        f"Your one-time code is {code}. It is valid for {minutes} minutes and can be used once.\n\n"
        "If you did not ask to delete your company's data in Keel, change your password now.",
    )


def send_status_link(email, token):
    send_email(
        email,
        "Your company's data is being deleted",
        "The deletion of your company's data in Keel has started. All users have lost access.\n\n"
        "Follow its progress at the link below; when it has finished, the same page shows the system "
        "confirmation (the deletion receipt), which we will also e-mail to you. The link needs no login: "
        "keep it private.",
        reverse("deletion_status", args=[token]),
    )


def send_confirmation_of(email, receipt_id):
    """The system confirmation, delivered from the job outbox once the company is gone (keel.jobs.outbox)."""
    from keel.datacontrol.models import DeletionReceipt

    send_confirmation(email, DeletionReceipt.objects.get(receipt_id=receipt_id))


def send_confirmation(email, receipt):
    """The system confirmation. Unlike ``notify.send_email`` a failure raises: the job must not end without it."""
    if not email:
        return
    body = (
        "Keel has permanently deleted your company's data: every contact, campaign, workflow, integration "
        "connection, user and file. Nothing of the company remains in any table or stored file; this was verified "
        "before this confirmation was sent. Your company's name and your users' e-mail addresses can be used "
        "again.\n\n" + receipt_text(receipt) + "\n\n— Keel"
    )
    send_mail("System confirmation: your company's data has been deleted", body, settings.DEFAULT_FROM_EMAIL, [email])
