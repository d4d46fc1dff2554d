"""The background delivery of e-mails through Django's tasks API (the same queue as jobs, keel/jobs/tasks.py).

The task's only argument is the outbox row's id; everything else is in the row."""

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.tasks import task
from django.utils import timezone

from keel.jobs.tasks import has_pending_task
from keel.mail import outbox
from keel.mail.models import OutgoingEmail

logger = logging.getLogger("keel.mail")


@task()
def deliver_email(email_id):
    return outbox.deliver(email_id)


def enqueue_delivery(email_id, delay_seconds=0):
    background_task = deliver_email
    if delay_seconds:
        background_task = background_task.using(run_after=timezone.now() + timedelta(seconds=delay_seconds))
    background_task.enqueue(email_id)


def resume_stalled_emails():
    """Worker housekeeping: an e-mail whose task was lost (a failed enqueue, a worker killed while sending) is
    enqueued again. Cheap when nothing is stalled; a duplicate task is harmless (``deliver`` claims the row)."""
    now = timezone.now()
    lease = timedelta(seconds=settings.KEEL_JOB_LEASE_SECONDS)
    # Killed while sending: the send may or may not have happened; e-mail is delivered at least once.
    OutgoingEmail.objects.filter(
        state=OutgoingEmail.State.SENDING, claimed_at__lt=now - lease - timedelta(seconds=settings.KEEL_EMAIL_TIMEOUT)
    ).update(state=OutgoingEmail.State.QUEUED, next_attempt_at=now)
    overdue = OutgoingEmail.objects.filter(
        Q(state=OutgoingEmail.State.QUEUED), Q(next_attempt_at__lt=now - lease)
    ).values_list("id", flat=True)
    resumed = []
    for email_id in overdue[:100]:
        if not has_pending_task(deliver_email, email_id):
            logger.warning("e-mail %s was waiting without a task; queueing it again", email_id)
            OutgoingEmail.objects.filter(pk=email_id).update(next_attempt_at=now)
            enqueue_delivery(email_id)
            resumed.append(email_id)
    return resumed
