"""Tell a user something happened: an in-app notice and an e-mail, queued in the same transaction and sent by a
background task (keel/mail), so a slow or broken mail server never holds up the job that finished."""

from keel.accounts.models import Notice
from keel.mail.models import OutgoingEmail
from keel.mail.outbox import absolute_url, queue_email


def notify(user, subject, message, link=""):
    """In-app notice plus e-mail. ``link`` is a site-relative path; the e-mail carries the absolute URL."""
    if user is None:
        return
    Notice.objects.create(company_id=user.company_id, user=user, message=message[:300], link=link)
    send_email(user.email, subject, message, link, company_id=user.company_id, user_id=user.pk)


def send_email(address, subject, message, link="", *, company_id=None, user_id=None):
    """Queue a plain notice e-mail (mail/notice.*) to ``address``."""
    context = {"subject": subject, "message": message, "link": absolute_url(link) if link else ""}
    return queue_email(address, OutgoingEmail.Kind.NOTICE, "notice", context, company_id=company_id, user_id=user_id)
