"""Tell a user something happened: an in-app notice and an e-mail through Django's mail backend."""

import logging

from django.conf import settings
from django.core.mail import send_mail

from keel.accounts.models import Notice

logger = logging.getLogger("keel.accounts")


def notify(user, subject, message, link=""):
    """In-app notice plus e-mail. ``link`` is a site-relative path; the e-mail carries the absolute URL."""
    if user is None:
        return
    Notice.objects.create(company_id=user.company_id, user=user, message=message[:300], link=link)
    send_email(user.email, subject, message, link)


def send_email(address, subject, message, link=""):
    body = message + (f"\n\n{settings.SITE_URL}{link}" if link else "") + "\n\n— Keel"
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [address])
    except Exception:  # a mail outage must not fail the job that finished; the in-app notice is there
        logger.exception("could not send e-mail %r", subject)
