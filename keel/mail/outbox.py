"""Queue an e-mail from a template, and deliver one queued e-mail (docs/operations.md, "E-mail").

``queue_email`` renders the message at once (subject, plain-text and HTML parts) and writes it to the outbox in the
caller's transaction: the change and its e-mail commit together or not at all. ``deliver`` is what the background
task runs; nothing here ever talks to a mail server inside a web request or a job.
"""

import logging
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import get_template, render_to_string
from django.utils import timezone

from keel.mail.models import OutgoingEmail

logger = logging.getLogger("keel.mail")

# Kinds that are never given up: the system confirmation is the only copy a deleted company's admin gets of the
# deletion receipt by e-mail (docs/company-deletion.md), so it is retried until the mail server takes it.
NEVER_GIVEN_UP = {OutgoingEmail.Kind.DELETION_CONFIRMATION}


def absolute_url(path):
    """The link to ``path`` on this Keel: KEEL_SITE_URL with or without a trailing slash never gives ``//``."""
    if not path:
        return settings.SITE_URL.rstrip("/") + "/"
    return settings.SITE_URL.rstrip("/") + "/" + path.lstrip("/")


def render_email(template, context):
    """(subject, text, html) of ``mail/<template>``: one template per part, the HTML part in mail/base.html."""
    context = {**context, "site_url": absolute_url("")}
    subject = " ".join(render_to_string(f"mail/{template}_subject.txt", context).split())
    text = render_to_string(f"mail/{template}.txt", context).strip() + "\n"
    html = render_to_string(f"mail/{template}.html", {**context, "subject": subject})
    return subject, text, html


def load_templates():
    """Compile every e-mail template once (the template loader keeps them), so that the first e-mail a process
    queues does not pay for parsing them: a worker calls this when it starts (``keel.jobs.tasks.prepare_worker``)."""
    folder = Path(__file__).resolve().parent / "templates" / "mail"
    for path in sorted(folder.glob("*.*")):
        get_template(f"mail/{path.name}")


def queue_email(to, kind, template, context, *, company_id=None, user_id=None):
    """Write the e-mail to the outbox; it is handed to the background task once the transaction commits."""
    subject, text, html = render_email(template, context)
    email = OutgoingEmail.objects.create(
        kind=kind, to=to, subject=subject[:300], text=text, html=html, company_id=company_id, user_id=user_id
    )
    # Looked up at call time, so that the test suite can swap it.
    dispatch(email.pk)
    return email


def enqueue_after_commit(email_id):
    """Enqueue the delivery task once the transaction commits."""
    from keel.mail.tasks import enqueue_delivery

    # robust: a failed enqueue must not fail the request; the worker's housekeeping enqueues it again.
    transaction.on_commit(lambda: enqueue_delivery(email_id), robust=True)


# How a queued e-mail is handed on. The test suite delivers at once instead (conftest.py, email_in_background).
dispatch = enqueue_after_commit


def deliver(email_id):
    """Send one queued e-mail whose time has come. Returns its state, or None when it was not this runner's."""
    now = timezone.now()
    claimed = OutgoingEmail.objects.filter(
        pk=email_id, state=OutgoingEmail.State.QUEUED, next_attempt_at__lte=now + timedelta(seconds=1)
    ).update(state=OutgoingEmail.State.SENDING, claimed_at=now)
    if not claimed:
        return None  # sent, given up, taken by another worker, or a duplicate task before its back-off ended
    email = OutgoingEmail.objects.get(pk=email_id)
    message = EmailMultiAlternatives(email.subject, email.text, settings.DEFAULT_FROM_EMAIL, [email.to])
    message.attach_alternative(email.html, "text/html")
    try:
        message.send()
    except Exception as exc:  # any failure of the mail server or the network is recorded and retried
        return record_failure(email, exc)
    if email.company_id is None:
        # A company deletion's e-mail: once sent, nothing of the deleted company's admin stays behind.
        OutgoingEmail.objects.filter(pk=email.pk).delete()
    else:
        OutgoingEmail.objects.filter(pk=email.pk).update(
            state=OutgoingEmail.State.SENT, sent_at=timezone.now(), text="", html="", last_error=""
        )
    logger.info("e-mail %s (%s) sent", email.pk, email.kind)
    return OutgoingEmail.State.SENT


def failure_reason(exc):
    reason = str(exc).strip() or type(exc).__name__
    if isinstance(exc, TimeoutError) or "timed out" in reason:
        reason = f"the mail server did not answer within {settings.KEEL_EMAIL_TIMEOUT:g} s"
    return reason[:300]


def retry_delay(attempts):
    """Back-off: KEEL_EMAIL_RETRY_SECONDS after the first failure, doubling, at most an hour."""
    return min(3600.0, settings.KEEL_EMAIL_RETRY_SECONDS * 2 ** (attempts - 1))


def record_failure(email, exc):
    from keel.mail.tasks import enqueue_delivery

    attempts, reason = email.attempts + 1, failure_reason(exc)
    gives_up = attempts >= settings.KEEL_EMAIL_MAX_ATTEMPTS and email.kind not in NEVER_GIVEN_UP
    if gives_up and email.company_id is None:
        OutgoingEmail.objects.filter(pk=email.pk).delete()  # as when sent: no address of a deleted company stays
    elif gives_up:
        OutgoingEmail.objects.filter(pk=email.pk).update(
            state=OutgoingEmail.State.FAILED, attempts=attempts, last_error=reason, text="", html=""
        )
        logger.error("e-mail %s (%s) not delivered after %s attempts: %s", email.pk, email.kind, attempts, reason)
        return OutgoingEmail.State.FAILED
    delay = retry_delay(attempts)
    OutgoingEmail.objects.filter(pk=email.pk).update(
        state=OutgoingEmail.State.QUEUED,
        attempts=attempts,
        last_error=reason,
        next_attempt_at=timezone.now() + timedelta(seconds=delay),
    )
    logger.warning("e-mail %s (%s) not delivered (%s); retrying in %g s", email.pk, email.kind, reason, delay)
    enqueue_delivery(email.pk, delay_seconds=delay)
    return OutgoingEmail.State.QUEUED


def latest_emails(kind, user_ids):
    """{user id: their newest e-mail of ``kind``}: what Admin Settings → Users shows about invitations."""
    latest = {}
    for email in OutgoingEmail.objects.filter(kind=kind, user_id__in=list(user_ids)).order_by("id"):
        latest[email.user_id] = email
    return latest


def forget_company(company_id):
    """Company deletion's last step: the company's e-mails (addresses, bodies) go with it."""
    return OutgoingEmail.objects.filter(company_id=company_id).delete()[0]
