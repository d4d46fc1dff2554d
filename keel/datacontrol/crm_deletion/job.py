"""The ``crm_deletion`` job: every contact of the company goes, with everything that belongs to contacts.

What goes is the CRM subgraph of the tenant graph (``graph.crm_models()``), so a contact-related model added later is
deleted without touching this module; and the contacts' stored files: attachments, and the CSV imports' uploads and
error reports (they hold rows of contacts). The company, its users and roles, campaigns, workflows, tag and list
definitions, integrations, exports and the audit log are kept.

The run is the shared ``keel.datacontrol.deletion.Deletion``. Here:

* the total is counted once, at the first run, and kept in the job's resume cursor: a resumed job shows the same
  total and a bar that never moves backwards;
* the audit event and the requester's notice are recorded with the job's final state and delivered from the job
  outbox (keel.jobs.outbox): audited exactly once, told at least once, wherever the worker dies.

No import can be running meanwhile (the job row is the lock), so nothing writes the files while they are deleted.
"""

import logging

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from keel.accounts.notify import notify
from keel.audit.actions import record
from keel.datacontrol import eraser, graph
from keel.datacontrol.actors import COMMAND_LINE
from keel.datacontrol.crm_deletion.preflight import describe, summarize
from keel.datacontrol.deletion import Deletion, DeletionProgress
from keel.jobs import outbox
from keel.jobs.models import DataJob
from keel.jobs.registry import register

logger = logging.getLogger("keel.datacontrol")

# Stored files that belong to contacts (under companies/<id>/), with the step shown while they are deleted.
CRM_FOLDERS = {"attachments": "Deleting attachment files", "imports": "Deleting import files and error reports"}
# Files deleted between two saves of the progress: the bar moves with them without a write for every file.
FILES_PER_SAVE = 20
AUDIT_DELETED = "crm.deleted_all"
AUDIT_FAILED = "crm.deletion_failed"


class CrmDeletion(Deletion):
    folders = CRM_FOLDERS
    files_per_save = FILES_PER_SAVE

    def models(self):
        return graph.crm_models()

    def plan(self):
        """Count, once, what is to be deleted; a resumed run keeps that total and carries on from what is left."""
        job, progress = self.job, self.tracker
        plan = job.cursor.get("plan") if job.cursor else None
        if plan is None:
            progress.step("Counting the records to delete")
            rows = eraser.count_rows(self.company_id, self.models())
            files = self.count_files()
            plan = {"rows": rows, "files": files, "total": sum(rows.values()) + files}
            progress.set_total(plan["total"])
            with transaction.atomic():
                self.tracker.progress.commit({"plan": plan})
        else:
            progress.set_total(plan["total"])
            rows_left = sum(eraser.count_rows(self.company_id, self.models()).values())
            progress.set_done(plan["total"] - rows_left - self.count_files())
        self.planned = plan

    def result(self):
        """What was deleted: never less than the plan counted, even when a crash lost the tally of a batch."""
        rows = {entity: max(n, self.tracker.rows.get(entity, 0)) for entity, n in self.planned["rows"].items()}
        return {
            "deleted": rows,
            "files_deleted": max(self.tracker.files, self.planned["files"]),
            "summary": f"Deleted {describe(summarize(rows))}.",
        }

    def finish(self):
        """The result, and the audit event and notice the runner records with the job's final state
        (keel.jobs.outbox): audited exactly once and announced at least once, wherever a worker dies."""
        job, progress = self.job, self.tracker.progress
        result = self.result()
        progress.set_done(progress.total)
        progress.step("Completed")
        outbox.on_completion(
            job,
            outbox.audit(
                job.company_id,
                job.requested_by or COMMAND_LINE,
                AUDIT_DELETED,
                job,
                deleted=result["deleted"],
                files_deleted=result["files_deleted"],
                finished_at=timezone.now().isoformat(),
            ),
            outbox.notice(
                job.requested_by,
                "All CRM records have been deleted",
                f"All CRM records have been deleted: {describe(summarize(result['deleted']))}. Imports and contact "
                "management work normally again.",
                reverse("contacts"),
            ),
        )
        job.result = result
        logger.info("all CRM records of company %s deleted (job %s): %s", job.company_id, job.pk, result["deleted"])


def run_crm_deletion(job, progress):
    """The ``crm_deletion`` job. Safe to run again from the start after a crash at any point."""
    CrmDeletion(job, DeletionProgress(progress)).run()


def crm_deletion_failed(job):
    """The job gave up after repeated errors: the records not yet deleted are still there, and nothing is locked."""
    left = eraser.remaining_rows(job.company_id, graph.crm_models())
    record(job.company_id, job.requested_by or COMMAND_LINE, AUDIT_FAILED, job, error=job.error, left=left)
    notify(
        job.requested_by,
        "The deletion of all CRM records did not finish",
        f"The deletion of all CRM records stopped: {job.error} Records not yet deleted are still there; start the "
        "deletion again to finish it.",
        reverse("contacts"),
    )


register(DataJob.Kind.CRM_DELETION, run_crm_deletion, on_failed=crm_deletion_failed)
