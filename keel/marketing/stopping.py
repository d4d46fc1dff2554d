"""Stopping a campaign: the one audited way a campaign becomes "stopped".

A campaign stops when a user presses Stop (``actions.do_stop_campaign``), when its sender finds the company's CRM
records being deleted (sending.py), and when the company's data is being deleted (``stop_active_campaigns``). A
module of its own because the sender uses it, and the actions use the sender's task (actions → tasks → sending):
in actions.py it would close an import circle.
"""

from keel.audit.actions import record
from keel.marketing.models import Campaign


def stop_campaign(campaign, *, actor, reason=None):
    """Stop a scheduled or sending campaign (its sender stops before its next batch; recipients not yet sent stay
    pending) and write it to the audit log. ``actor`` is the user who stopped it, or None when Keel did, with the
    ``reason``. Returns whether the campaign was stopped by this call (False: it was not active)."""
    stopped = Campaign.objects.filter(pk=campaign.pk, status__in=Campaign.ACTIVE_STATUSES).update(
        status=Campaign.Status.STOPPED
    )
    if stopped:
        campaign.status = Campaign.Status.STOPPED
        details = {"reason": reason} if reason else {}
        record(campaign.company_id, actor, "campaign.stopped", campaign, name=campaign.name, **details)
    return bool(stopped)


def stop_active_campaigns(company, *, reason):
    """Stop every scheduled or sending campaign of a company (Keel's own stop, e.g. when its data is deleted)."""
    for campaign in Campaign.objects.filter(company=company, status__in=Campaign.ACTIVE_STATUSES).order_by("id"):
        stop_campaign(campaign, actor=None, reason=reason)
