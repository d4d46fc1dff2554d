"""The ``company_deletion`` job: every row and file of the company, then the company itself.

The run is the shared ``keel.datacontrol.deletion.Deletion``. Here it disconnects every integration first (the
provider's revoke hook called, the credentials wiped), then erases every tenant row children first in short
batches, then every stored file, then, in one short final transaction, the job rows and the company row, after
verifying that nothing of the company is left. The receipt carries the progress (the job's own row disappears at
the end) and, at the end, the counts.

The system confirmation is recorded in the job outbox (keel.jobs.outbox) inside that final transaction, with the
requester's address (which lives only in the job's parameters, deleted by that commit). After the commit the runner,
or any worker's reaper if this one dies, delivers it into the e-mail outbox (keel/mail), which retries until the
mail server takes it: recorded exactly when the deletion is recorded as done, sent at least once, and never undoing
the deletion.
"""

import logging
from contextlib import suppress

from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from keel.accounts.models import Company
from keel.datacontrol import eraser, graph
from keel.datacontrol.company_deletion.receipt import ReceiptProgress
from keel.datacontrol.deletion import Deletion, DeletionIncomplete
from keel.datacontrol.models import DeletionReceipt
from keel.integrations.actions import disconnect_all_integrations
from keel.integrations.models import IntegrationConnection
from keel.jobs import outbox
from keel.jobs.models import DataJob, JobOutboxEntry
from keel.jobs.progress import JobCancelled, JobFailed, LeaseLost, WorkerStopping
from keel.jobs.registry import register
from keel.jobs.runner import request_cancel
from keel.mail.outbox import forget_company as forget_company_emails

logger = logging.getLogger("keel.datacontrol")

# What the public status page says when an attempt ended in an error: the runner retries a deletion job after a
# pause, however often it fails (DataJob.MUST_FINISH_KINDS); nobody is alerted, the error is in the logs.
INTERRUPTED_STEP = (
    "An error interrupted the deletion. Keel retries it automatically after a short pause; an operator can also "
    "resume it at once with the command keel delete-company."
)
# ...and when the job ended for good, which only an error that retrying cannot fix does.
FAILED_STEP = (
    "The deletion stopped because of an error that retrying cannot fix. It stays stopped until an operator resumes "
    "it with the command keel delete-company."
)


class CompanyDeletion(Deletion):
    # Every stored file of the company; the progress is stored at least every half second meanwhile.
    folders = {None: "Deleting stored files"}
    files_per_save = 500
    seconds_per_save = 0.5

    def models(self):
        """Every tenant table but the job table: job rows go last, with the company row."""
        return [model for model in graph.deletion_order() if model is not DataJob]

    def plan(self):
        """Count, once, what the frozen company holds: the progress bar's total and the floor of the final counts."""
        receipt, progress = self.tracker.receipt, self.tracker.progress
        if receipt.files_total is None:
            receipt.rows_planned = eraser.count_rows(receipt.company_id_deleted, graph.tenant_models())
            receipt.files_total = eraser.count_files(receipt.company_id_deleted)
            receipt.progress_total = sum(receipt.rows_planned.values()) + receipt.files_total
            DeletionReceipt.objects.filter(pk=receipt.pk).update(
                rows_planned=receipt.rows_planned,
                files_total=receipt.files_total,
                progress_total=receipt.progress_total,
            )
        progress.set_total(receipt.progress_total)
        progress.set_done(receipt.progress_done)

    def before_erasing(self):
        stop_other_jobs(self.job)
        self.tracker.step("Removing integration connections")
        self.tracker.save()
        disconnect_integrations(self.job.company)
        detach_jobs_from_users(self.company_id)

    def finish(self):
        """One short transaction: the job rows and the company row go, the receipt says so and the requester is
        told, or nothing happens (and the resumed job does all of it again)."""
        receipt, company_id = self.tracker.receipt, self.company_id
        self.tracker.step("Verifying that nothing is left")
        with transaction.atomic():
            eraser.prefer_index_scans()
            self.tracker.progress.save()
            self.tracker.progress.checkpoint()  # still this runner's job: another runner may have taken over
            jobs_deleted = delete_where(DataJob, "company_id", company_id)
            verify_nothing_left(company_id)
            delete_where(JobOutboxEntry, "company_id", company_id)  # nobody is left to tell about other jobs
            delete_company_row(company_id)
            self.complete_receipt(jobs_deleted)
            forget_company_emails(company_id)  # the company's queued e-mails go with it
            confirmation = outbox.call(
                "keel.datacontrol.company_deletion.emails.send_confirmation_of",
                email=self.job.params.get("requester_email", ""),
                receipt_id=str(receipt.receipt_id),
            )
            outbox.stage(self.job, [confirmation], company_id=None)
        logger.info("company %s deleted (receipt %s)", company_id, receipt.receipt_id)
        # The job row is gone, so the runner ends nothing: deliver the confirmation here.
        outbox.kill_point("after_final_state")
        outbox.deliver(job_id=self.job.pk)

    def complete_receipt(self, jobs_deleted):
        """The final counts: never below what the plan counted, even when a crash lost the tally of a batch."""
        receipt = self.tracker.receipt
        rows = dict(receipt.rows_deleted)
        job_entity = graph.entity_name(DataJob)
        rows[job_entity] = rows.get(job_entity, 0) + jobs_deleted
        for entity, planned in receipt.rows_planned.items():
            rows[entity] = max(rows.get(entity, 0), planned)
        files = max(receipt.files_deleted, receipt.files_total or 0)
        done = sum(rows.values()) + files
        DeletionReceipt.objects.filter(pk=receipt.pk).update(
            state=DeletionReceipt.State.SUCCEEDED,
            rows_deleted={entity: n for entity, n in sorted(rows.items()) if n},
            files_deleted=files,
            progress_done=done,
            progress_total=done,
            step="Completed",
            completed_at=timezone.now(),
        )
        receipt.refresh_from_db()


def run_company_deletion(job, progress):
    """The ``company_deletion`` job. Safe to run again from the start after a crash at any point."""
    receipt = receipt_for_job(job)
    if job.company.is_active:
        raise JobFailed("The company is not marked for deletion; nothing was deleted.")
    try:
        CompanyDeletion(job, ReceiptProgress(progress, receipt)).run()
    except (JobCancelled, JobFailed, LeaseLost, WorkerStopping):
        raise  # not errors: the runner knows what each means (and a lost lease must not write anything)
    except Exception:
        with suppress(DatabaseError):  # the error itself may be the database's; the runner logs the first one
            DeletionReceipt.objects.filter(pk=receipt.pk, state=DeletionReceipt.State.RUNNING).update(
                step=INTERRUPTED_STEP
            )
        raise
    job.result = {"receipt_id": str(receipt.receipt_id)}


def receipt_for_job(job):
    receipt = DeletionReceipt.objects.filter(receipt_id=job.params.get("receipt_id")).first()
    if receipt is None or receipt.company_id_deleted != job.company_id:
        raise JobFailed("The deletion receipt of this job is missing; nothing was deleted.")
    if receipt.state == DeletionReceipt.State.FAILED:  # resumed by an operator after a failure
        DeletionReceipt.objects.filter(pk=receipt.pk).update(state=DeletionReceipt.State.RUNNING)
        receipt.state = DeletionReceipt.State.RUNNING
    return receipt


def stop_other_jobs(job):
    """Nothing else may keep writing for the company. (Blockers make this rare: it covers a race at confirmation.)"""
    others = DataJob.objects.filter(company_id=job.company_id, state__in=DataJob.ACTIVE_STATES).exclude(pk=job.pk)
    for other in others:
        request_cancel(other)


def disconnect_integrations(company):
    """Before any row goes: each provider's revoke hook is called, then the stored credentials are wiped."""
    disconnect_all_integrations(company)
    left = IntegrationConnection.objects.filter(company=company).exclude(encrypted_access_token="").count()
    if left:
        raise DeletionIncomplete(f"{left} integration connection(s) still hold credentials")


def detach_jobs_from_users(company_id):
    """Job rows stay until the very end; their optional links to users and other rows must not hold those back."""
    links = {
        field.name: None
        for field in DataJob._meta.concrete_fields
        if field.is_relation and field.null and field.name != "company"
    }
    if links:
        DataJob.objects.filter(company_id=company_id).update(**links)


def verify_nothing_left(company_id):
    """No file of the company is left, and on SQLite no row: counting an emptied range of its ``(company, id)``
    indexes costs nothing there, since a deleted row's index entries go with it. On PostgreSQL they stay until
    vacuum, and counting walks all of them (67 ms of an 83 ms final transaction at 100,000 contacts), so there the
    company row's foreign keys are the check: ``delete_company_row``."""
    files_left = eraser.count_files(company_id)
    rows_left = {} if connection.vendor == "postgresql" else eraser.remaining_rows(company_id, graph.tenant_models())
    if rows_left or files_left:
        raise DeletionIncomplete(f"left after erasing: rows {rows_left}, {files_left} file(s)")


def delete_company_row(company_id):
    """The company row goes, which every tenant table's foreign key refuses while a row of the company is left:
    the database's own check that nothing is. On PostgreSQL the keys are checked at this statement rather than at
    commit (they are deferred), so that a row still there fails this statement, which the savepoint undoes, and
    the error can name what is left."""
    if connection.vendor != "postgresql":
        delete_where(Company, "id", company_id)  # verify_nothing_left counted, under SQLite's one write lock
        return
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            delete_where(Company, "id", company_id)
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    except IntegrityError as exc:
        left = eraser.remaining_rows(company_id, graph.tenant_models())
        raise DeletionIncomplete(f"left after erasing: rows {left}") from exc


def delete_where(model, column, value):
    """A raw, single-statement delete. ``QuerySet.delete()`` would collect every cascaded row in Python first
    (see keel/datacontrol/eraser.py); here nothing references these rows any more."""
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        # Identifiers come from model metadata through quote_name; the value is a parameter.
        cursor.execute(f"DELETE FROM {table} WHERE {connection.ops.quote_name(column)} = %s", [value])  # noqa: S608
        return max(cursor.rowcount, 0)


def company_deletion_failed(job):
    """The job ended for good (an error retrying cannot fix): the company stays closed; an operator resumes it."""
    DeletionReceipt.objects.filter(receipt_id=job.params.get("receipt_id")).exclude(
        state=DeletionReceipt.State.SUCCEEDED
    ).update(state=DeletionReceipt.State.FAILED, step=FAILED_STEP)
    logger.error("deletion of company %s failed for good (job %s): %s", job.company_id, job.pk, job.error)


register(DataJob.Kind.COMPANY_DELETION, run_company_deletion, on_failed=company_deletion_failed)
