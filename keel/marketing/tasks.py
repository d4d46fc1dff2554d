"""The background work of campaigns: the sending task, how it is enqueued, and the housekeeping that resumes a
campaign whose worker died. The sending itself is in sending.py, which knows nothing of tasks."""

import logging
from datetime import timedelta

from django.conf import settings
from django.tasks import task
from django.utils import timezone

from keel.jobs.tasks import has_pending_task
from keel.marketing.models import Campaign
from keel.marketing.sending import deliver_campaign

logger = logging.getLogger("keel.marketing")


@task()
def send_campaign(campaign_id):
    """Send a started campaign; its argument is the campaign id, everything else is in the database."""
    return deliver_campaign(campaign_id)


def enqueue_sending(campaign_id):
    send_campaign.enqueue(campaign_id)


def resume_stalled_campaigns():
    """Housekeeping run by every worker: re-enqueue campaigns whose sending task died with its worker."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.KEEL_JOB_LEASE_SECONDS)
    stalled = Campaign.objects.filter(status=Campaign.Status.SENDING, heartbeat_at__lt=stale)
    resumed = []
    for campaign_id, heartbeat_at in stalled.values_list("id", "heartbeat_at"):
        if has_pending_task(send_campaign, campaign_id):
            continue  # a task is waiting for a free worker; nothing died
        # Only the runner whose update matches the old heartbeat enqueues: two workers never both resume it.
        if Campaign.objects.filter(pk=campaign_id, heartbeat_at=heartbeat_at).update(heartbeat_at=now):
            logger.warning("campaign %s stopped making progress; sending it again", campaign_id)
            enqueue_sending(campaign_id)
            resumed.append(campaign_id)
    return resumed
