"""State changes of campaigns and workflows. Pages, the API and the command line all call these ``do_*``; each
takes the user making the change as ``actor`` and checks their "Manage campaigns and workflows" permission."""

from django.db import IntegrityError, transaction
from django.db.models import Count
from django.utils import timezone

from keel.accounts.access import require_permission
from keel.accounts.permissions import MANAGE_MARKETING
from keel.audit.actions import record
from keel.contacts import history
from keel.contacts.bulk_actions import filter_batches
from keel.contacts.guards import check_crm_writable, crm_write_transaction
from keel.contacts.models import ListMembership
from keel.contacts.validation import ensure_contacts_exist
from keel.errors import Conflict, InvalidInput
from keel.marketing.models import Campaign, CampaignRecipient, Workflow, WorkflowEnrollment
from keel.marketing.stopping import stop_campaign
from keel.marketing.tasks import enqueue_sending

MAX_CONTACT_IDS = 10000
ID_CHUNK = 500  # stays below SQLite's bound-parameter limit, and keeps each write transaction short


def _chunks(items, size=ID_CHUNK):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _clean_name(value, field, limit):
    value = " ".join((value or "").split())
    if not value or len(value) > limit:
        raise InvalidInput(f"The {field} must be 1 to {limit} characters long.", field=field)
    return value


def _clean_optional(value, field, limit):
    value = (value or "").strip()
    if len(value) > limit:
        raise InvalidInput(f"The {field} can be at most {limit} characters long.", field=field)
    return value


def resolve_contact_ids(company, contact_ids):
    """The given ids, without duplicates, after checking that every one is a contact of ``company``.

    Ids of another company's contacts are reported exactly like ids that do not exist: they are not the caller's.
    """
    ids = list(dict.fromkeys(contact_ids or ()))
    if not ids:
        raise InvalidInput("Give at least one contact id.", field="contact_ids")
    if len(ids) > MAX_CONTACT_IDS:
        raise InvalidInput(f"Give at most {MAX_CONTACT_IDS} contact ids per request.", field="contact_ids")
    ensure_contacts_exist(company, ids, "Nothing was added.")
    return ids


def list_contact_ids(contact_list):
    """Every contact id on a list, read in id order one batch at a time."""
    after = 0
    while True:
        batch = list(
            ListMembership.objects.filter(contact_list=contact_list, id__gt=after)
            .order_by("id")
            .values_list("id", "contact_id")[:ID_CHUNK]
        )
        if not batch:
            return
        after = batch[-1][0]
        yield [contact_id for _, contact_id in batch]


# --- campaigns ----------------------------------------------------------------------------------------------


def do_create_campaign(company, name, *, actor, subject="", body=""):
    require_permission(actor, MANAGE_MARKETING)
    return Campaign.objects.create(
        company=company,
        name=_clean_name(name, "name", 150),
        subject=_clean_optional(subject, "subject", 200),
        body=_clean_optional(body, "body", 100000),
        created_by=actor,
    )


def _ensure_accepts_recipients(campaign):
    if not campaign.accepts_recipients:
        raise Conflict(
            f"Recipients can be added only to a draft or stopped campaign; this one is {campaign.status}.",
            code="campaign_not_editable",
        )


def _add_recipient_batch(campaign, contact_ids):
    with crm_write_transaction(campaign.company_id):
        # Locks the campaign row: a Start racing with this batch waits, and a started campaign takes no more.
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        _ensure_accepts_recipients(locked)
        present = set(
            CampaignRecipient.objects.filter(campaign=campaign, contact_id__in=contact_ids).values_list(
                "contact_id", flat=True
            )
        )
        new = [contact_id for contact_id in contact_ids if contact_id not in present]
        CampaignRecipient.objects.bulk_create(
            [CampaignRecipient(company_id=campaign.company_id, campaign=campaign, contact_id=i) for i in new],
            ignore_conflicts=True,
        )
    return len(new)


def do_add_recipients(campaign, contact_ids, *, actor):
    """Add contacts (ids of the campaign's company) as recipients; ones already there are left alone."""
    require_permission(actor, MANAGE_MARKETING)
    check_crm_writable(campaign.company_id)  # before reading the ids; each batch is guarded in its transaction
    _ensure_accepts_recipients(campaign)
    ids = resolve_contact_ids(campaign.company_id, contact_ids)
    return sum(_add_recipient_batch(campaign, chunk) for chunk in _chunks(ids))


def do_add_list_recipients(campaign, contact_list, *, actor):
    """Add every contact of a list, one short transaction per batch."""
    require_permission(actor, MANAGE_MARKETING)
    check_crm_writable(campaign.company_id)
    _ensure_accepts_recipients(campaign)
    added = 0
    for chunk in list_contact_ids(contact_list):
        added += _add_recipient_batch(campaign, chunk)
    return added


def do_add_filter_recipients(campaign, contact_filter, *, actor):
    """Add every contact matching a search and filters (keel.contacts.listing), one short transaction per batch."""
    require_permission(actor, MANAGE_MARKETING)
    check_crm_writable(campaign.company_id)
    _ensure_accepts_recipients(campaign)
    added = 0
    for chunk in filter_batches(campaign.company, contact_filter):
        added += _add_recipient_batch(campaign, chunk)
    return added


def do_start_campaign(campaign, *, actor):
    """Start sending: the campaign turns "sending" and a background task marks its recipients sent."""
    require_permission(actor, MANAGE_MARKETING)
    # Sending writes history events to the contacts. Under the company lock, a CRM deletion starting meanwhile either
    # sees this campaign sending and is refused, or has started and refuses this.
    with crm_write_transaction(campaign.company_id):
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if campaign.status == Campaign.Status.SENT:
            raise Conflict("This campaign has already been sent.", code="campaign_already_sent")
        if campaign.status == Campaign.Status.SENDING:
            return campaign
        if not CampaignRecipient.objects.filter(campaign=campaign).exists():
            raise Conflict(
                "This campaign has no recipients yet. Add recipients (a list, contacts matching a filter, or "
                "e-mail addresses), then start it.",
                code="campaign_without_recipients",
            )
        now = timezone.now()
        campaign.status = Campaign.Status.SENDING
        campaign.started_at = campaign.started_at or now
        campaign.heartbeat_at = now
        campaign.finished_at = None
        campaign.save(update_fields=["status", "started_at", "heartbeat_at", "finished_at"])
        record(campaign.company_id, actor, "campaign.started", campaign, name=campaign.name)
        transaction.on_commit(lambda: enqueue_sending(campaign.pk))
    return campaign


def do_stop_campaign(campaign, *, actor):
    """Stop sending; the task stops before its next batch. Recipients not yet sent stay pending. Always possible,
    also during a deletion of all CRM records."""
    require_permission(actor, MANAGE_MARKETING)
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if campaign.status == Campaign.Status.SENT:
            raise Conflict("This campaign has already been sent.", code="campaign_already_sent")
        if campaign.status == Campaign.Status.DRAFT:
            raise Conflict("This campaign has not been started.", code="campaign_not_started")
        stop_campaign(campaign, actor=actor)
    return campaign


def recipient_counts(campaign_ids):
    """{campaign id: {"total", "pending", "sent", "opened", "clicked"}}; "sent" counts every recipient the campaign
    reached (opened and clicked ones too), "opened" includes those who clicked."""
    counts = {
        campaign_id: dict.fromkeys(("total", "pending", "sent", "opened", "clicked"), 0) for campaign_id in campaign_ids
    }
    rows = (
        CampaignRecipient.objects.filter(campaign_id__in=list(campaign_ids))
        .values("campaign_id", "status")
        .annotate(n=Count("id"))
    )
    reached = {
        CampaignRecipient.Status.SENT: ("sent",),
        CampaignRecipient.Status.OPENED: ("sent", "opened"),
        CampaignRecipient.Status.CLICKED: ("sent", "opened", "clicked"),
        CampaignRecipient.Status.PENDING: ("pending",),
    }
    for row in rows:
        bucket = counts[row["campaign_id"]]
        bucket["total"] += row["n"]
        for key in reached[row["status"]]:
            bucket[key] += row["n"]
    return counts


# --- workflows ----------------------------------------------------------------------------------------------


def do_create_workflow(company, name, *, actor, trigger=""):
    require_permission(actor, MANAGE_MARKETING)
    return Workflow.objects.create(
        company=company,
        name=_clean_name(name, "name", 150),
        trigger=_clean_optional(trigger, "trigger", 100),
        created_by=actor,
    )


def _set_workflow_status(workflow, actor, status):
    if workflow.status != status:
        Workflow.objects.filter(pk=workflow.pk).update(status=status)
        workflow.status = status
        record(workflow.company_id, actor, f"workflow.{status}", workflow, name=workflow.name)
    return workflow


def do_activate_workflow(workflow, *, actor):
    require_permission(actor, MANAGE_MARKETING)
    return _set_workflow_status(workflow, actor, Workflow.Status.ACTIVE)


def do_deactivate_workflow(workflow, *, actor):
    require_permission(actor, MANAGE_MARKETING)
    return _set_workflow_status(workflow, actor, Workflow.Status.INACTIVE)


def _enroll_batch(workflow, contact_ids):
    try:
        return _enroll_batch_once(workflow, contact_ids)
    except IntegrityError:  # a concurrent request enrolled some of them first: the second pass skips those
        return _enroll_batch_once(workflow, contact_ids)


def _enroll_batch_once(workflow, contact_ids):
    with crm_write_transaction(workflow.company_id):
        present = set(
            WorkflowEnrollment.objects.filter(workflow=workflow, contact_id__in=contact_ids).values_list(
                "contact_id", flat=True
            )
        )
        new = [contact_id for contact_id in contact_ids if contact_id not in present]
        now = timezone.now()
        WorkflowEnrollment.objects.bulk_create(
            [WorkflowEnrollment(company_id=workflow.company_id, workflow=workflow, contact_id=i) for i in new]
        )
        history.add_entries(
            workflow.company_id,
            new,
            "workflow_enrolled",
            f"Enrolled in the workflow {workflow.name}",
            occurred_at=now,
            data={"workflow_id": workflow.pk},
        )
    return len(new)


def do_enroll_contacts(workflow, contact_ids, *, actor):
    """Enroll contacts (ids of the workflow's company); contacts already enrolled are left alone."""
    require_permission(actor, MANAGE_MARKETING)
    check_crm_writable(workflow.company_id)  # before reading the ids; each batch is guarded in its transaction
    ids = resolve_contact_ids(workflow.company_id, contact_ids)
    return sum(_enroll_batch(workflow, chunk) for chunk in _chunks(ids))


def do_enroll_list(workflow, contact_list, *, actor):
    require_permission(actor, MANAGE_MARKETING)
    check_crm_writable(workflow.company_id)
    added = 0
    for chunk in list_contact_ids(contact_list):
        added += _enroll_batch(workflow, chunk)
    return added
