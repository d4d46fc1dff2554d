"""Delete company data: the actions that start (or resume) it, for the page, the API and the command line.

The order of events is what makes the deletion both impossible by accident and complete when intended
(docs/company-deletion.md):

1. ``preflight.deletion_blockers`` lists what blocks it (pending operations, active campaigns and workflows).
   While anything blocks, nothing starts.
2. ``do_request_company_deletion`` checks the typed company name, the re-entered password (rate limited) and,
   when configured, a one-time code e-mailed to the requester (``confirm``). Then, in ONE transaction, the company
   becomes ``deleting`` (from that instant every session, token and login of its users is refused), its API tokens
   are revoked, its campaigns and workflows stop, a global ``DeletionReceipt`` is created, and the job is created
   (the database lets only one exist). The requester gets the unguessable status link by e-mail.
3. The job (``job.run_company_deletion``) erases everything and ends with the receipt and the system confirmation.
"""

import logging
import secrets
from dataclasses import dataclass

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from keel.accounts.actions import do_end_sessions
from keel.accounts.models import ApiToken, Company
from keel.audit.actions import record
from keel.datacontrol.actors import is_operator, requesting_user, require_admin_or_operator
from keel.datacontrol.company_deletion.confirm import check_confirmation, ensure_not_throttled, issue_code
from keel.datacontrol.company_deletion.emails import send_status_link
from keel.datacontrol.company_deletion.preflight import deletion_blocked_error, deletion_blockers
from keel.datacontrol.company_deletion.receipt import hash_status_token
from keel.datacontrol.models import DeletionReceipt
from keel.errors import Conflict, Forbidden
from keel.jobs.models import DataJob
from keel.jobs.tasks import create_job
from keel.marketing.models import Workflow
from keel.marketing.stopping import stop_active_campaigns

logger = logging.getLogger("keel.datacontrol")

PERMISSION = "delete_company_data"


@dataclass(frozen=True)
class StartedDeletion:
    job: DataJob
    receipt: DeletionReceipt
    status_token: str

    @property
    def status_path(self):
        return reverse("deletion_status", args=[self.status_token])


def do_send_deletion_code(company, *, actor):
    """E-mail the requester a one-time code that confirming the deletion then requires (when configured)."""
    require_admin_or_operator(actor, PERMISSION)
    if is_operator(actor):
        raise Forbidden("Only a Company Administrator confirms a deletion with an e-mailed code.")
    ensure_not_throttled(actor)
    issue_code(actor)


def do_request_company_deletion(company, company_name, password, code=None, *, actor):
    """The Company Administrator's confirmed request: checks everything, then starts the deletion."""
    require_admin_or_operator(actor, PERMISSION)
    if is_operator(actor):
        raise Forbidden("An operator starts a deletion with do_start_company_deletion.")
    ensure_not_throttled(actor)
    blockers = deletion_blockers(company)
    if blockers:
        raise deletion_blocked_error(blockers)
    check_confirmation(actor, company_name, password, code)
    return _start(company, actor)


def do_start_company_deletion(company, *, actor):
    """An operator's start (the command line has had the company's name typed): no password, no requester."""
    if not is_operator(actor):
        raise Forbidden("A Company Administrator confirms the deletion with the company's name and their password.")
    return _start(company, actor)


def _start(company, actor):
    """Freeze the company and create its deletion job and receipt, all in one transaction.

    From the commit on, the company's users are refused everywhere (``Company.is_active`` is checked on every
    request and token), so nothing of the company is served any more.
    """
    token = secrets.token_urlsafe(32)
    user = requesting_user(actor)
    email = user.email if user else ""
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
            requested_by=user,
            params={"receipt_id": str(receipt.receipt_id), "requester_email": email},
        )
        revoke_access(company)
        record(company, user, "company.deletion_requested", receipt_id=str(receipt.receipt_id))
    company.status = Company.Status.DELETING
    if email:
        transaction.on_commit(lambda: send_status_link(email, token))
    logger.info("deletion of company %s started (receipt %s, job %s)", company.pk, receipt.receipt_id, job.pk)
    return StartedDeletion(job=job, receipt=receipt, status_token=token)


def revoke_access(company):
    """API tokens revoked, sessions ended, campaigns and workflows stopped. Idempotent.

    Sessions are ended (deleted) here; besides, the company's status ends any session of its users at its next
    request (CompanyMiddleware), and the API refuses them too. Tokens are revoked as well, so that not even a
    mistake in that check could let an old token back in.
    """
    now = timezone.now()
    ApiToken.objects.filter(company=company, revoked_at__isnull=True).update(revoked_at=now)
    do_end_sessions(company, actor=None)  # the session table is global: its rows of the company go now
    # As "Stop" does: a sending campaign's task ends before its next batch.
    stop_active_campaigns(company, reason="company_deletion")
    Workflow.objects.filter(company=company, status=Workflow.Status.ACTIVE).update(status=Workflow.Status.INACTIVE)


def do_resume_company_deletion(company, *, actor):
    """For operators: the active job of a company already being deleted, or a new one continuing its receipt."""
    if not is_operator(actor):
        raise Forbidden("Only an operator resumes a deletion, with the command keel delete-company.")
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
