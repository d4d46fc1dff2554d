"""Delete all CRM records: the one action that starts it, for the page, the API and the command line.

Why it is safe at any moment (docs/crm-deletion.md, "How it works (operators)"):

* the job row is the lock. The database lets one exclusive job (import, CRM deletion, company deletion) be active
  per company, so an import and a deletion can never interleave, and ``keel.contacts.guards`` refuses every other
  CRM write while the job is queued or running, including while the reaper gives a killed job back to the queue;
* a CRM write and the start are serialised on the company row (``keel.contacts.guards``): a write that passed the
  guard commits before the job is created, so the job finds what it wrote, and a campaign that started sending
  before the job was created makes the start refuse.

The job itself is ``keel.datacontrol.crm_deletion.job``.
"""

import logging

from django.db import transaction

from keel.accounts.access import can_delete_all_crm_records
from keel.audit.actions import record
from keel.contacts.guards import lock_company
from keel.datacontrol.actors import is_operator, requesting_user
from keel.datacontrol.crm_deletion.preflight import sending_campaign
from keel.errors import Conflict, Forbidden, InvalidInput
from keel.jobs.models import DataJob
from keel.jobs.tasks import create_job

logger = logging.getLogger("keel.datacontrol")

PERMISSION = "delete_all_crm_records"
CONFIRMATION_TEXT = (
    "All CRM records, their data and history will be permanently deleted. If you need this data, please export it "
    "before continuing. Are you sure?"
)
AUDIT_STARTED = "crm.deletion_started"


def check_can_delete_all(actor):
    """A Company Administrator whose role allows deletion of all CRM records, or an operator."""
    if not is_operator(actor) and not can_delete_all_crm_records(actor):
        raise Forbidden(
            "Only a Company Administrator whose role allows deletion of all CRM records can do this.",
            code="permission_denied",
        )


def do_start_crm_deletion(company, confirm=True, *, actor):
    """Start deleting every CRM record of ``company``: create the ``crm_deletion`` job. Returns the job.

    The company row is locked first, as every CRM write does (``keel.contacts.guards``): the start waits for the
    writes that passed the guard to commit, so the job deletes what they wrote. Then the job row is inserted: from
    its commit on the database refuses an import and the guard refuses every contact write and campaign start. A
    campaign found sending under that lock rolls it all back.
    """
    check_can_delete_all(actor)
    if confirm is not True:
        raise InvalidInput(
            'Confirm the deletion with "confirm": true. ' + CONFIRMATION_TEXT,
            code="confirmation_required",
            field="confirm",
        )
    with transaction.atomic():
        locked = lock_company(company)
        if locked is None or not locked.is_active:
            raise Conflict("This company's data is being deleted.", code="operation_in_progress")
        job = create_job(company, DataJob.Kind.CRM_DELETION, requested_by=requesting_user(actor))
        campaign = sending_campaign(company)
        if campaign is not None:
            raise Conflict(
                f"The campaign “{campaign.name}” is being sent. Stop it or wait until it has been sent, then delete "
                "all CRM records.",
                code="campaign_sending",
                campaign_id=campaign.pk,
            )
        record(company, actor, AUDIT_STARTED, job)
    logger.info("deletion of all CRM records of company %s started (job %s)", company.pk, job.pk)
    return job
