"""Delete all CRM records: the permission, the start action, and the ``crm_deletion`` job.

Every contact of the company goes, with everything that belongs to contacts: the CRM subgraph of the tenant graph
(``graph.crm_models()``), so a contact-related model added later is deleted without touching this module. The
company, its users and roles, campaigns, workflows, tag and list definitions, integrations, exports and the audit
log are kept.

Why it is safe at any moment:

* the job row is the lock. The database lets one exclusive job (import, CRM deletion, company deletion) be active
  per company, so an import and a deletion can never interleave, and ``keel.contacts.guards`` refuses every other
  CRM write while the job is queued or running, including while the reaper gives a killed job back to the queue;
* a CRM write and the start are serialised on the company row (``keel.contacts.guards``): a write that passed the
  guard commits before the job is created, so the job finds what it wrote, and a campaign that started sending
  before the job was created makes the start refuse;
* the job erases children before parents in short batches (``eraser.erase_rows``), each with its progress, so a
  run killed at any point starts again from the beginning and only finds less to delete;
* the total is counted once, at the first run, and kept in the job's resume cursor: a resumed job shows the same
  total and a bar that never moves backwards;
* the requester is told at least once: the cursor records that the notice went out, and a run that finds the work
  audited but that mark missing tells them then.

Stored files go too: attachments, and the CSV imports' uploads and error reports (they hold rows of contacts). No
import can be running meanwhile (the job row is the lock), so nothing writes there while they are deleted.
"""

import logging

from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from keel.accounts.access import can_delete_all_crm_records
from keel.accounts.notify import notify
from keel.audit.actions import record
from keel.audit.models import AuditEvent
from keel.contacts.guards import lock_company
from keel.datacontrol import eraser, graph
from keel.errors import Conflict, Forbidden, InvalidInput
from keel.jobs.models import DataJob
from keel.jobs.registry import register
from keel.jobs.runner import active_job
from keel.jobs.tasks import create_job
from keel.storage import company_folder, walk_files

logger = logging.getLogger("keel.datacontrol")

PERMISSION = "delete_all_crm_records"
CONFIRMATION_TEXT = (
    "All CRM records, their data and history will be permanently deleted. If you need this data, please export it "
    "before continuing. Are you sure?"
)
RUNNING_TEXT = "All CRM records are being deleted"
EXPORT_PATH = "/settings/data/export/"
CONTACTS_PATH = "/contacts/"
# Stored files that belong to contacts (under companies/<id>/), with the step shown while they are deleted.
CRM_FOLDERS = {"attachments": "Deleting attachment files", "imports": "Deleting import files and error reports"}
# Files deleted between two saves of the progress: the bar moves with them without a write for every file.
FILES_PER_SAVE = 20
AUDIT_STARTED = "crm.deletion_started"
AUDIT_DELETED = "crm.deleted_all"
AUDIT_FAILED = "crm.deletion_failed"
# Rounds of "erase, then look again" before an attempt gives up and the runner retries it later.
ERASE_ROUNDS = 3


class CrmRecordsLeft(Exception):
    """Rows were still found after erasing (a write raced the start): the runner retries the job."""


# --- who, what and how many ------------------------------------------------------------------------------------


def check_can_delete_all(user):
    if not can_delete_all_crm_records(user):
        raise Forbidden(
            "Only a Company Administrator whose role allows deletion of all CRM records can do this.",
            code="permission_denied",
        )


def crm_counts(company):
    """Rows of every CRM entity of the company: ``{"contacts": n, "contact_events": n, ...}``."""
    return eraser.count_rows(_pk(company), graph.crm_models())


def summarize(counts):
    """The three numbers people are shown: contacts, history events and every other contact record."""
    contacts = counts.get("contacts", 0)
    events = counts.get("contact_events", 0)
    return {"contacts": contacts, "history_events": events, "other_records": sum(counts.values()) - contacts - events}


def other_record_kinds():
    """What "other contact records" are, from the CRM subgraph: "notes, attachments, ..." """
    names = [graph.entity_name(m) for m in graph.crm_models()]
    return ", ".join(name.replace("_", " ") for name in names if name not in ("contacts", "contact_events"))


def describe(summary):
    """Reads as "3 contacts, 12 history events and 7 other contact records"."""
    return (
        f"{_count(summary['contacts'], 'contact')}, {_count(summary['history_events'], 'history event')} and "
        f"{_count(summary['other_records'], 'other contact record')}"
    )


def _count(n, noun):
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _pk(company):
    return getattr(company, "pk", company)


def latest_crm_deletion(company):
    return DataJob.objects.filter(company=company, kind=DataJob.Kind.CRM_DELETION).order_by("-id").first()


def active_crm_deletion(company):
    return active_job(company, [DataJob.Kind.CRM_DELETION])


def sending_campaign(company):
    from keel.marketing.models import Campaign

    return Campaign.objects.filter(company=company, status=Campaign.Status.SENDING).order_by("id").first()


# --- starting -----------------------------------------------------------------------------------------------------


def do_start_crm_deletion(user, confirm=True):
    """A Company Administrator allowed to delete all CRM records starts the deletion. Returns the job."""
    check_can_delete_all(user)
    if confirm is not True:
        raise InvalidInput(
            'Confirm the deletion with "confirm": true. ' + CONFIRMATION_TEXT,
            code="confirmation_required",
            field="confirm",
        )
    return start_crm_deletion(user.company, requested_by=user)


def start_crm_deletion(company, requested_by=None, actor_label=""):
    """Create the ``crm_deletion`` job (the same for the page, the API and the command line).

    The company row is locked first, as every CRM write does (``keel.contacts.guards``): the start waits for the
    writes that passed the guard to commit, so the job deletes what they wrote. Then the job row is inserted: from
    its commit on the database refuses an import and the guard refuses every contact write and campaign start. A
    campaign found sending under that lock rolls it all back.
    """
    with transaction.atomic():
        locked = lock_company(company)
        if locked is None or not locked.is_active:
            raise Conflict("This company's data is being deleted.", code="operation_in_progress")
        job = create_job(
            company,
            DataJob.Kind.CRM_DELETION,
            requested_by=requested_by,
        )
        campaign = sending_campaign(company)
        if campaign is not None:
            raise Conflict(
                f"The campaign “{campaign.name}” is being sent. Stop it or wait until it has been sent, then delete "
                "all CRM records.",
                code="campaign_sending",
                campaign_id=campaign.pk,
            )
        record(company, requested_by or actor_label, AUDIT_STARTED, job)
    logger.info("deletion of all CRM records of company %s started (job %s)", company.pk, job.pk)
    return job


# --- the job --------------------------------------------------------------------------------------------------------


def run_crm_deletion(job, progress):
    """The ``crm_deletion`` job. Safe to run again from the start after a crash at any point."""
    company_id = job.company_id
    models = graph.crm_models()
    plan = _plan(job, progress, models)
    deleted = _erase_rows(company_id, models, progress)
    files = _erase_files(company_id, progress)
    rows = {entity: max(planned, deleted.get(entity, 0)) for entity, planned in plan["rows"].items()}
    result = {
        "deleted": rows,
        "files_deleted": max(files, plan["files"]),
        "summary": f"Deleted {describe(summarize(rows))}.",
    }
    _finish(job, progress, result)
    job.result = result


def _plan(job, progress, models):
    """Count, once, what is to be deleted; a resumed run keeps that total and carries on from what is left."""
    plan = job.cursor.get("plan") if job.cursor else None
    if plan is None:
        progress.step("Counting the records to delete")
        rows = eraser.count_rows(job.company_id, models)
        files = _count_files(job.company_id)
        plan = {"rows": rows, "files": files, "total": sum(rows.values()) + files}
        progress.set_total(plan["total"])
        with transaction.atomic():
            progress.commit({"plan": plan})
        return plan
    progress.set_total(plan["total"])
    rows_left = sum(eraser.count_rows(job.company_id, models).values())
    files_left = _count_files(job.company_id)
    progress.set_done(plan["total"] - rows_left - files_left)
    return plan


def _erase_rows(company_id, models, progress):
    deleted = {}
    for _ in range(ERASE_ROUNDS):
        for entity, n in eraser.erase_rows(company_id, models, progress=progress).items():
            deleted[entity] = deleted.get(entity, 0) + n
        if not eraser.remaining_rows(company_id, models):
            return deleted
    raise CrmRecordsLeft(f"CRM rows left after {ERASE_ROUNDS} rounds: {eraser.remaining_rows(company_id, models)}")


def _count_files(company_id):
    return sum(eraser.count_files(company_id, folder) for folder in CRM_FOLDERS)


def _erase_files(company_id, progress):
    """Delete the contacts' stored files one by one, the bar advancing with each. Returns how many were deleted."""
    deleted = 0
    for folder, step in CRM_FOLDERS.items():
        progress.step(step)
        unsaved = 0
        for name in walk_files(company_folder(company_id, folder)):
            default_storage.delete(name)
            deleted += 1
            unsaved += 1
            progress.advance(1)
            if unsaved == FILES_PER_SAVE:
                _save_progress(progress)
                unsaved = 0
        _save_progress(progress)
        # Removes the emptied folders (and would delete a file that appeared meanwhile, which nothing should write).
        deleted += eraser.erase_files(company_id, folder)
    return deleted


def _save_progress(progress):
    progress.save()
    progress.checkpoint()


def _finish(job, progress, result):
    """Audit once, in one short transaction that also proves the job is still ours; then tell the requester."""
    with transaction.atomic():
        progress.set_done(progress.total)
        progress.step("Completed")
        progress.save()
        progress.checkpoint()
        already = AuditEvent.objects.filter(company_id=job.company_id, action=AUDIT_DELETED, target_id=str(job.pk))
        # A previous run may have got this far and been killed before the job was marked done: audit only once.
        if not already.exists():
            record(
                job.company_id,
                job.requested_by or "command line",
                AUDIT_DELETED,
                job,
                deleted=result["deleted"],
                files_deleted=result["files_deleted"],
                finished_at=timezone.now().isoformat(),
            )
    # After the commit, so that no e-mail is sent for a batch that could still roll back, and no write lock is held
    # while the mail server answers.
    _notify_done_once(job, progress, result)
    logger.info("all CRM records of company %s deleted (job %s): %s", job.company_id, job.pk, result["deleted"])


def _notify_done_once(job, progress, result):
    """Tell the requester, unless a previous run already did. Marked only once told, so a run killed in between
    tells them again on resume: at least once, and once in every run that is not killed at that very moment."""
    cursor = job.cursor or {}
    if cursor.get("notified"):
        return
    _notify_done(job.requested_by, result)
    with transaction.atomic():
        progress.commit({**cursor, "notified": True})


def _notify_done(user, result):
    notify(
        user,
        "All CRM records have been deleted",
        f"All CRM records have been deleted: {describe(summarize(result['deleted']))}. Imports and contact "
        "management work normally again.",
        CONTACTS_PATH,
    )


def crm_deletion_failed(job):
    """The job gave up after repeated errors: the records not yet deleted are still there, and nothing is locked."""
    left = eraser.remaining_rows(job.company_id, graph.crm_models())
    record(job.company_id, job.requested_by or "command line", AUDIT_FAILED, job, error=job.error, left=left)
    notify(
        job.requested_by,
        "The deletion of all CRM records did not finish",
        f"The deletion of all CRM records stopped: {job.error} Records not yet deleted are still there; start the "
        "deletion again to finish it.",
        CONTACTS_PATH,
    )


register(DataJob.Kind.CRM_DELETION, run_crm_deletion, on_failed=crm_deletion_failed)
