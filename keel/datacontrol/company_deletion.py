"""Delete company data: the preflight, the confirmation, the loss of access, and the ``company_deletion`` job.

The order of events is what makes the deletion both impossible by accident and complete when intended:

1. ``deletion_preflight`` lists what would be deleted and what blocks it (pending operations, active campaigns and
   workflows). While anything blocks, nothing starts.
2. ``do_request_company_deletion`` checks the typed company name, the re-entered password (rate limited) and,
   when configured, a one-time code e-mailed to the requester. Then, in ONE transaction, the company becomes
   ``deleting`` (from that instant every session, token and login of its users is refused), its API tokens are
   revoked, its campaigns and workflows stop, a global ``DeletionReceipt`` is created, and the job is created
   (the database lets only one exist). The requester gets the unguessable status link by e-mail.
3. The job (``run_company_deletion``) disconnects every integration first (provider revoke hook called,
   credentials wiped), then erases every tenant row children first in short batches, then every stored file,
   then, in one short final transaction, the job rows and the company row, after verifying that nothing of the
   company is left. The receipt carries the progress (the job's own row disappears at the end) and, at the end,
   the counts: it holds ids, times and numbers only, never a name or an e-mail address.
4. The system confirmation is e-mailed inside that final transaction, after the verification and just before the
   commit: the requester's address lives only in the job's parameters, which that commit deletes. If sending fails
   or the worker dies before the commit, nothing is committed and the resumed job sends it again (at least once).
"""

import hashlib
import logging
import math
import secrets
import time
from contextlib import suppress
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.core.mail import send_mail
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from keel.accounts.access import require_company_admin
from keel.accounts.models import ApiToken, Company
from keel.accounts.notify import send_email
from keel.accounts.throttle import FailureThrottle, minutes_text
from keel.audit.actions import record
from keel.datacontrol import eraser, graph
from keel.datacontrol.models import DeletionReceipt, ExportArchive
from keel.errors import Conflict, Forbidden, InvalidInput, RateLimited
from keel.jobs.models import DataJob
from keel.jobs.progress import JobCancelled, JobFailed, LeaseLost, WorkerStopping
from keel.jobs.registry import register
from keel.jobs.runner import create_job, request_cancel
from keel.marketing.models import Campaign, Workflow
from keel.security import status_link_expired
from keel.storage import company_folder, walk_files

logger = logging.getLogger("keel.datacontrol")

PERMISSION = "delete_company_data"
STATUS_PATH = "/deletion-status/{token}/"
CODE_TTL_SECONDS = 15 * 60
# Rounds of "erase rows and files, then look again" before the job gives the attempt up and the runner retries it.
ERASE_ROUNDS = 3
# Stored files are deleted one by one; the progress (bar and receipt) is stored at least this often meanwhile.
FILES_PROGRESS_SECONDS = 0.5
FILES_PER_PROGRESS_SAVE = 500
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

# What each pending operation is called, and the page where it can be followed or stopped.
PENDING_KINDS = {
    DataJob.Kind.IMPORT: ("a contact import", "/contacts/import/{job_id}/"),
    DataJob.Kind.EXPORT: ("a data export", "/settings/data/export/"),
    DataJob.Kind.CRM_DELETION: ("a deletion of all CRM records", "/contacts/"),
}


# --- preflight: what would be deleted, and what stands in the way ------------------------------------------------


@dataclass(frozen=True)
class Blocker:
    code: str
    message: str
    link: str
    link_label: str

    def as_dict(self):
        return {"code": self.code, "message": self.message}


def deletion_blockers(company):
    """Everything that must be finished or stopped before the company can be deleted, oldest first."""
    blockers = []
    pending = DataJob.objects.filter(company=company, kind__in=PENDING_KINDS, state__in=DataJob.ACTIVE_STATES)
    for job in pending.order_by("id"):
        label, link = PENDING_KINDS[job.kind]
        blockers.append(
            Blocker(
                "pending_operation",
                f"Complete or stop active processes: {label} (job {job.pk}) is {job.state}.",
                link.format(job_id=job.pk),
                "View the operation",
            )
        )
    for campaign in Campaign.objects.filter(company=company, status__in=Campaign.ACTIVE_STATUSES).order_by("id"):
        blockers.append(
            Blocker(
                "active_campaign",
                f"The campaign “{campaign.name}” is {campaign.status}. Stop it before deleting the company.",
                f"/marketing/campaigns/{campaign.pk}/",
                "Stop the campaign",
            )
        )
    for workflow in Workflow.objects.filter(company=company, status=Workflow.Status.ACTIVE).order_by("id"):
        blockers.append(
            Blocker(
                "active_workflow",
                f"The workflow “{workflow.name}” is active. Deactivate it before deleting the company.",
                f"/marketing/workflows/{workflow.pk}/",
                "Stop the workflow",
            )
        )
    return blockers


def deletion_blocked_error(blockers):
    return Conflict(
        "The company cannot be deleted yet. Complete or stop active processes first.",
        code="deletion_blocked",
        blockers=[b.as_dict() for b in blockers],
    )


def deletion_counts(company):
    """Rows of the company in every tenant table, by entity: what the deletion would remove."""
    return eraser.count_rows(company.pk, graph.tenant_models())


def deletion_preflight(company):
    return {"blockers": deletion_blockers(company), "counts": deletion_counts(company)}


def latest_export(company):
    return (
        ExportArchive.objects.filter(company=company, status=ExportArchive.Status.READY)
        .order_by("-created_at", "-id")
        .first()
    )


# --- re-authentication and the optional e-mailed code ------------------------------------------------------------


# Failed re-authentications (password or e-mailed code) per user, counted in the login's window.
REAUTH_THROTTLE = FailureThrottle(
    "company-deletion:reauth-failures", "KEEL_REAUTH_ATTEMPTS", "KEEL_LOGIN_WINDOW_SECONDS"
)


def _code_key(user):
    return f"keel:company-deletion:code:{user.pk}"


def _ensure_not_throttled(user):
    wait = REAUTH_THROTTLE.wait_seconds(user.pk)
    if wait:
        raise RateLimited(
            f"Too many failed attempts to confirm the deletion. Try again in {minutes_text(wait)}.",
            retry_after=math.ceil(wait),
        )


def _code_digest(user, code):
    return salted_hmac("keel.company_deletion.code", f"{user.pk}:{code}", algorithm="sha256").hexdigest()


def do_send_deletion_code(user):
    """E-mail the requester a one-time code that confirming the deletion then requires (when configured)."""
    require_company_admin(user, PERMISSION)
    _ensure_not_throttled(user)
    code = f"{secrets.randbelow(10**6):06d}"
    cache.set(_code_key(user), _code_digest(user, code), CODE_TTL_SECONDS)
    send_email(
        user.email,
        "Your code to confirm the deletion of your company's data",
        f"Your one-time code is {code}. It is valid for {CODE_TTL_SECONDS // 60} minutes and can be used once.\n\n"
        "If you did not ask to delete your company's data in Keel, change your password now.",
    )


def _check_code(user, code):
    code = (code or "").strip()
    if not code:
        do_send_deletion_code(user)
        raise InvalidInput(
            "We e-mailed you a one-time code. Enter it together with your password to confirm the deletion.",
            code="verification_code_required",
            field="code",
        )
    expected = cache.get(_code_key(user))
    if not expected or not constant_time_compare(expected, _code_digest(user, code)):
        REAUTH_THROTTLE.count_failure(user.pk)
        raise Forbidden(
            "The one-time code is not correct or has expired. Ask for a new code and try again.",
            code="verification_failed",
            field="code",
        )
    cache.delete(_code_key(user))


def _check_confirmation(user, company_name, password, code):
    company = user.company
    if (company_name or "").strip() != company.name:
        raise InvalidInput(
            f"The name you typed does not match the company's name. Type it exactly as shown: “{company.name}”.",
            code="confirmation_mismatch",
            field="company_name",
        )
    if not user.check_password(password or ""):
        REAUTH_THROTTLE.count_failure(user.pk)
        raise Forbidden(
            "The password is not correct. Re-enter the password you log in with.",
            code="reauthentication_failed",
            field="password",
        )
    if settings.KEEL_DELETION_EMAIL_CODE:
        _check_code(user, code)
    REAUTH_THROTTLE.forget(user.pk)


# --- starting the deletion -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StartedDeletion:
    job: DataJob
    receipt: DeletionReceipt
    status_token: str

    @property
    def status_path(self):
        return STATUS_PATH.format(token=self.status_token)


def hash_status_token(token):
    return hashlib.sha256(token.encode()).hexdigest()


def receipt_for_token(token):
    if not token or len(token) > 100:
        return None
    receipt = DeletionReceipt.objects.filter(status_token_hash=hash_status_token(token)).first()
    return None if receipt is None or status_link_expired(receipt) else receipt


def do_request_company_deletion(user, company_name, password, code=None):
    """The Company Administrator's confirmed request: checks everything, then starts the deletion."""
    require_company_admin(user, PERMISSION)
    _ensure_not_throttled(user)
    blockers = deletion_blockers(user.company)
    if blockers:
        raise deletion_blocked_error(blockers)
    _check_confirmation(user, company_name, password, code)
    return start_company_deletion(user.company, requested_by=user)


def start_company_deletion(company, requested_by=None, requester_email=None):
    """Freeze the company and create its deletion job and receipt, all in one transaction.

    Called by the confirmed request and by the operators' command line. From the commit on, the company's users
    are refused everywhere (``Company.is_active`` is checked on every request and token), so nothing of the
    company is served any more.
    """
    token = secrets.token_urlsafe(32)
    email = requester_email or (requested_by.email if requested_by else "")
    with transaction.atomic():
        locked = Company.objects.select_for_update().get(pk=company.pk)
        if not locked.is_active:
            raise Conflict("This company's data is already being deleted.", code="deletion_in_progress")
        blockers = deletion_blockers(locked)  # again, under the lock: a campaign may have started meanwhile
        if blockers:
            raise deletion_blocked_error(blockers)
        Company.objects.filter(pk=company.pk).update(status=Company.Status.DELETING)
        receipt = DeletionReceipt.objects.create(
            company_id_deleted=company.pk, status_token_hash=hash_status_token(token), step="Waiting to start"
        )
        job = create_job(
            locked,
            DataJob.Kind.COMPANY_DELETION,
            requested_by=requested_by,
            params={"receipt_id": str(receipt.receipt_id), "requester_email": email},
        )
        revoke_access(company)
        record(company, requested_by, "company.deletion_requested", receipt_id=str(receipt.receipt_id))
    company.status = Company.Status.DELETING
    if email:
        transaction.on_commit(lambda: _send_status_link(email, token))
    logger.info("deletion of company %s started (receipt %s, job %s)", company.pk, receipt.receipt_id, job.pk)
    return StartedDeletion(job=job, receipt=receipt, status_token=token)


def revoke_access(company):
    """API tokens revoked, campaigns and workflows stopped. Idempotent.

    Sessions need no change here: the company's status ends every session of its users at their next request,
    with the message "This company's data is being deleted" (CompanyMiddleware), and the API refuses them too.
    Tokens are revoked as well, so that not even a mistake in that check could let an old token back in.
    """
    now = timezone.now()
    ApiToken.objects.filter(company=company, revoked_at__isnull=True).update(revoked_at=now)
    # As "Stop" does: a sending campaign's task ends before its next batch.
    Campaign.objects.filter(company=company, status__in=Campaign.ACTIVE_STATUSES).update(status=Campaign.Status.STOPPED)
    Workflow.objects.filter(company=company, status=Workflow.Status.ACTIVE).update(status=Workflow.Status.INACTIVE)


def _send_status_link(email, token):
    send_email(
        email,
        "Your company's data is being deleted",
        "The deletion of your company's data in Keel has started. All users have lost access.\n\n"
        "Follow its progress at the link below; when it has finished, the same page shows the system "
        "confirmation (the deletion receipt), which we will also e-mail to you. The link needs no login: "
        "keep it private.",
        STATUS_PATH.format(token=token),
    )


# --- the job ------------------------------------------------------------------------------------------------------


class DeletionIncomplete(Exception):
    """Something of the company was still found after erasing: the attempt ends and the runner retries it."""


class ReceiptProgress:
    """The job's progress, mirrored on the receipt inside each batch's own transaction.

    The eraser calls ``advance``/``save``/``checkpoint`` inside every batch transaction; saving here writes the
    job row (through ``Progress.save``) and the receipt's tally in that same transaction, so the public status page
    and the receipt's counts always match what was really deleted, crash or not.
    """

    def __init__(self, progress, receipt):
        self.progress = progress
        self.receipt = receipt
        self.entity = None

    def step(self, text):
        self.progress.step(text)
        self.receipt.step = text[:200]

    def advance(self, n=1):
        self.progress.advance(n)
        if self.entity is not None:
            self.receipt.rows_deleted[self.entity] = self.receipt.rows_deleted.get(self.entity, 0) + n
        self.receipt.progress_done += n

    def save(self):
        self.progress.save()
        DeletionReceipt.objects.filter(pk=self.receipt.pk).update(
            rows_deleted=self.receipt.rows_deleted,
            files_deleted=self.receipt.files_deleted,
            progress_done=self.receipt.progress_done,
            step=self.receipt.step,
        )

    def checkpoint(self):
        self.progress.checkpoint()


def rows_models():
    """Every tenant table but the job table, children first: job rows go last, with the company row."""
    return [model for model in graph.deletion_order() if model is not DataJob]


def run_company_deletion(job, progress):
    """The ``company_deletion`` job. Safe to run again from the start after a crash at any point."""
    receipt = _receipt_for_job(job)
    if job.company.is_active:
        raise JobFailed("The company is not marked for deletion; nothing was deleted.")
    try:
        _delete_company(job, ReceiptProgress(progress, receipt))
    except (JobCancelled, JobFailed, LeaseLost, WorkerStopping):
        raise  # not errors: the runner knows what each means (and a lost lease must not write anything)
    except Exception:
        with suppress(DatabaseError):  # the error itself may be the database's; the runner logs the first one
            DeletionReceipt.objects.filter(pk=receipt.pk, state=DeletionReceipt.State.RUNNING).update(
                step=INTERRUPTED_STEP
            )
        raise
    job.result = {"receipt_id": str(receipt.receipt_id)}


def _delete_company(job, tracker):
    company = job.company
    _stop_other_jobs(job)
    _plan(tracker)
    tracker.step("Removing integration connections")
    tracker.save()
    _disconnect_integrations(company)
    _detach_jobs_from_users(company.pk)
    for attempt in range(1, ERASE_ROUNDS + 1):
        _erase_rows(company.pk, tracker)
        _erase_files(company.pk, tracker)
        leftovers = eraser.remaining_rows(company.pk, rows_models())
        files_left = eraser.count_files(company.pk)
        if not leftovers and not files_left:
            break
        logger.warning(
            "company %s: round %s left %s and %s files; erasing again", company.pk, attempt, leftovers, files_left
        )
    _finish(job, tracker)


def _receipt_for_job(job):
    receipt = DeletionReceipt.objects.filter(receipt_id=job.params.get("receipt_id")).first()
    if receipt is None or receipt.company_id_deleted != job.company_id:
        raise JobFailed("The deletion receipt of this job is missing; nothing was deleted.")
    if receipt.state == DeletionReceipt.State.FAILED:  # resumed by an operator after a failure
        DeletionReceipt.objects.filter(pk=receipt.pk).update(state=DeletionReceipt.State.RUNNING)
        receipt.state = DeletionReceipt.State.RUNNING
    return receipt


def _stop_other_jobs(job):
    """Nothing else may keep writing for the company. (Blockers make this rare: it covers a race at confirmation.)"""
    others = DataJob.objects.filter(company_id=job.company_id, state__in=DataJob.ACTIVE_STATES).exclude(pk=job.pk)
    for other in others:
        request_cancel(other)


def _disconnect_integrations(company):
    """Before any row goes: each provider's revoke hook is called, then the stored credentials are wiped."""
    from keel.integrations.actions import disconnect_all_integrations
    from keel.integrations.models import IntegrationConnection

    disconnect_all_integrations(company)
    left = IntegrationConnection.objects.filter(company=company).exclude(encrypted_access_token="").count()
    if left:
        raise DeletionIncomplete(f"{left} integration connection(s) still hold credentials")


def _plan(tracker):
    """Count, once, what the frozen company holds: the progress bar's total and the floor of the final counts."""
    receipt, progress = tracker.receipt, tracker.progress
    if receipt.files_total is None:
        receipt.rows_planned = eraser.count_rows(receipt.company_id_deleted, graph.tenant_models())
        receipt.files_total = eraser.count_files(receipt.company_id_deleted)
        receipt.progress_total = sum(receipt.rows_planned.values()) + receipt.files_total
        DeletionReceipt.objects.filter(pk=receipt.pk).update(
            rows_planned=receipt.rows_planned, files_total=receipt.files_total, progress_total=receipt.progress_total
        )
    progress.set_total(receipt.progress_total)
    progress.set_done(receipt.progress_done)


def _detach_jobs_from_users(company_id):
    """Job rows stay until the very end; their optional links to users and other rows must not hold those back."""
    links = {
        field.name: None
        for field in DataJob._meta.concrete_fields
        if field.is_relation and field.null and field.name != "company"
    }
    if links:
        DataJob.objects.filter(company_id=company_id).update(**links)


def _erase_rows(company_id, tracker):
    batch_size = settings.KEEL_BATCH_SIZE
    for model in rows_models():
        tracker.entity = graph.entity_name(model)
        eraser.erase_rows(company_id, [model], tracker, batch_size)
    tracker.entity = None


def _erase_files(company_id, tracker):
    """Every stored file of the company, one at a time, so that the bar keeps moving while they go.

    The progress is stored (and the job's ownership checked) every ``FILES_PROGRESS_SECONDS`` or
    ``FILES_PER_PROGRESS_SAVE`` files, whichever comes first. A crash in between forgets at most that many from the
    tally; the final counts are never below what was counted at the start.
    """
    tracker.step("Deleting stored files")
    unsaved, saved_at = 0, time.monotonic()
    # One folder listing in memory at a time, however many files there are.
    for name in walk_files(company_folder(company_id)):
        default_storage.delete(name)
        _count_files_deleted(tracker, 1)
        unsaved += 1
        if unsaved >= FILES_PER_PROGRESS_SAVE or time.monotonic() - saved_at >= FILES_PROGRESS_SECONDS:
            tracker.save()
            tracker.checkpoint()
            unsaved, saved_at = 0, time.monotonic()
    # Whatever arrived meanwhile, and the emptied folders of a local storage.
    _count_files_deleted(tracker, eraser.erase_files(company_id))
    tracker.save()
    tracker.checkpoint()


def _count_files_deleted(tracker, n):
    tracker.receipt.files_deleted += n
    tracker.advance(n)


def _finish(job, tracker):
    """One short transaction: the job rows and the company row go, the receipt says so and the requester is told,
    or nothing happens (and the resumed job does all of it again)."""
    receipt, progress = tracker.receipt, tracker.progress
    company_id = job.company_id
    tracker.step("Verifying that nothing is left")
    with transaction.atomic():
        progress.save()
        progress.checkpoint()  # still this runner's job: another runner may have taken over
        jobs_deleted = _delete_where(DataJob, "company_id", company_id)
        leftovers = eraser.remaining_rows(company_id, graph.tenant_models())
        files_left = eraser.count_files(company_id)
        if leftovers or files_left:
            raise DeletionIncomplete(f"left after erasing: rows {leftovers}, {files_left} file(s)")
        _delete_where(Company, "id", company_id)
        rows = dict(receipt.rows_deleted)
        rows[graph.entity_name(DataJob)] = rows.get(graph.entity_name(DataJob), 0) + jobs_deleted
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
        # Last, just before the commit: the address is in the job row this transaction deletes. A failed send
        # rolls everything back and the job is retried; a crash before the commit resumes and sends again.
        _send_confirmation(job.params.get("requester_email"), receipt)
    logger.info("company %s deleted (receipt %s)", company_id, receipt.receipt_id)


def _delete_where(model, column, value):
    """A raw, single-statement delete: no Python-level cascade collects anything (DESIGN §1)."""
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        # Identifiers come from model metadata through quote_name; the value is a parameter.
        cursor.execute(f"DELETE FROM {table} WHERE {connection.ops.quote_name(column)} = %s", [value])  # noqa: S608
        return max(cursor.rowcount, 0)


def receipt_text(receipt):
    """The system confirmation as plain text: ids, times and counts only."""
    lines = [
        f"Receipt ID: {receipt.receipt_id}",
        f"Company ID: {receipt.company_id_deleted}",
        f"Requested at: {receipt.requested_at:%Y-%m-%d %H:%M:%S} UTC",
        f"Completed at: {receipt.completed_at:%Y-%m-%d %H:%M:%S} UTC" if receipt.completed_at else "Not completed",
        "Rows deleted:",
        *(f"  {entity.replace('_', ' ')}: {n}" for entity, n in sorted(receipt.rows_deleted.items())),
        f"Files deleted: {receipt.files_deleted}",
    ]
    return "\n".join(lines)


def _send_confirmation(email, receipt):
    """The system confirmation. Unlike ``notify.send_email`` a failure raises: the job must not end without it."""
    if not email:
        return
    body = (
        "Keel has permanently deleted your company's data: every contact, campaign, workflow, integration "
        "connection, user and file. Nothing of the company remains in any table or stored file; this was verified "
        "before this confirmation was sent. Your company's name and your users' e-mail addresses can be used "
        "again.\n\n" + receipt_text(receipt) + "\n\n— Keel"
    )
    send_mail("System confirmation: your company's data has been deleted", body, settings.DEFAULT_FROM_EMAIL, [email])


def company_deletion_failed(job):
    """The job ended for good (an error retrying cannot fix): the company stays closed; an operator resumes it."""
    DeletionReceipt.objects.filter(receipt_id=job.params.get("receipt_id")).exclude(
        state=DeletionReceipt.State.SUCCEEDED
    ).update(state=DeletionReceipt.State.FAILED, step=FAILED_STEP)
    logger.error("deletion of company %s failed for good (job %s): %s", job.company_id, job.pk, job.error)


def status_payload(receipt):
    """What the public status link may show: state, progress, counts, completion time and receipt id, no more."""
    done, total = receipt.progress_done, receipt.progress_total
    if receipt.state == DeletionReceipt.State.SUCCEEDED:
        percent = 100
    else:
        percent = min(99, int(done * 100 / total)) if total else 0
    return {
        "state": receipt.state,
        "progress": {"done": done, "total": total, "percent": percent},
        "counts": {**receipt.rows_deleted, "files": receipt.files_deleted},
        "completed_at": receipt.completed_at,
        "receipt_id": str(receipt.receipt_id),
    }


register(DataJob.Kind.COMPANY_DELETION, run_company_deletion, on_failed=company_deletion_failed)


def resume_company_deletion(company):
    """For operators: the active job of a company already being deleted, or a new one continuing its receipt."""
    job = DataJob.objects.filter(
        company=company, kind=DataJob.Kind.COMPANY_DELETION, state__in=DataJob.ACTIVE_STATES
    ).first()
    if job is not None:
        return job
    receipt = (
        DeletionReceipt.objects.filter(company_id_deleted=company.pk)
        .exclude(state=DeletionReceipt.State.SUCCEEDED)
        .order_by("-id")
        .first()
    )
    if receipt is None:
        raise Conflict("This company is being deleted but has no deletion receipt.", code="receipt_missing")
    previous = (
        DataJob.objects.filter(
            company=company, kind=DataJob.Kind.COMPANY_DELETION, params__receipt_id=str(receipt.receipt_id)
        )
        .order_by("-id")
        .first()
    )
    email = previous.params.get("requester_email", "") if previous else ""
    with transaction.atomic():
        DeletionReceipt.objects.filter(pk=receipt.pk).update(state=DeletionReceipt.State.RUNNING, step="Resuming")
        return create_job(
            company,
            DataJob.Kind.COMPANY_DELETION,
            params={"receipt_id": str(receipt.receipt_id), "requester_email": email},
        )
