"""Sending a campaign in the background. No e-mail leaves Keel: sending marks each recipient sent and writes a
"campaign_sent" event to the contact's history.

The work is done in batches, each one short transaction, so a Stop takes effect at the next batch, other requests
never wait long for the database, and a worker that dies mid-way loses at most one uncommitted batch. A campaign
left "sending" by a dead worker is picked up again by the worker's housekeeping (``tasks.resume_stalled_campaigns``):
sending only ever takes pending recipients, so running again, or twice at once, sends each recipient once.
"""

import logging

from django.db import transaction
from django.utils import timezone

from keel.contacts import history
from keel.contacts.guards import crm_deletion_job, lock_company
from keel.marketing.models import Campaign, CampaignRecipient
from keel.marketing.stopping import stop_campaign

logger = logging.getLogger("keel.marketing")

BATCH_SIZE = 500


def deliver_campaign(campaign_id, batch_size=BATCH_SIZE):
    """Send a "sending" campaign to its pending recipients until none is left (then it is "sent") or until it is
    no longer "sending" (stopped). Returns the campaign's status at the end."""
    while True:
        campaign = Campaign.objects.filter(pk=campaign_id).first()
        if campaign is None:
            return None
        if campaign.status != Campaign.Status.SENDING:
            return campaign.status
        if not _send_batch(campaign, batch_size):
            return Campaign.objects.filter(pk=campaign_id).values_list("status", flat=True).first()


def _send_batch(campaign, batch_size):
    """Send one batch. Returns False once there is nothing left for this runner to send."""
    pending = CampaignRecipient.objects.filter(campaign_id=campaign.pk, status=CampaignRecipient.Status.PENDING)
    with transaction.atomic():
        if _stopped_by_crm_deletion(campaign):
            return False
        batch = list(
            pending.select_for_update(skip_locked=True).order_by("id").values_list("id", "contact_id")[:batch_size]
        )
        now = timezone.now()
        if not batch:
            if not pending.exists():  # none left at all, not merely locked by a second runner
                Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.SENDING).update(
                    status=Campaign.Status.SENT, finished_at=now, heartbeat_at=now
                )
            return False
        CampaignRecipient.objects.filter(id__in=[recipient_id for recipient_id, _ in batch]).update(
            status=CampaignRecipient.Status.SENT, sent_at=now
        )
        history.add_entries(
            campaign.company_id,
            [contact_id for _, contact_id in batch],
            "campaign_sent",
            f"Sent the campaign {campaign.name}",
            occurred_at=now,
            data={"campaign_id": campaign.pk},
        )
        Campaign.objects.filter(pk=campaign.pk).update(heartbeat_at=now)
    return True


def _stopped_by_crm_deletion(campaign):
    """Inside the batch's transaction, under the company lock (keel.contacts.guards): a CRM deletion starting now
    waits for the batch to commit, and once one has started the campaign stops rather than add history under the
    eraser."""
    lock_company(campaign.company_id)
    if crm_deletion_job(campaign.company_id) is None:
        return False
    stop_campaign(campaign, actor=None, reason="crm_deletion")
    logger.info("campaign %s stopped: its company's CRM records are being deleted", campaign.pk)
    return True
