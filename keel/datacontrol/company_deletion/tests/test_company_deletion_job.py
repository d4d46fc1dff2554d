"""Delete company data: the job, the receipt, the system confirmation and what the status page says meanwhile."""

import json
import re

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from keel.accounts.actions import do_create_company
from keel.accounts.models import Company, User
from keel.contacts.models import Contact
from keel.datacontrol import eraser, graph
from keel.datacontrol.actors import COMMAND_LINE
from keel.datacontrol.company_deletion import actions as deletion_actions
from keel.datacontrol.company_deletion import job as deletion_job
from keel.datacontrol.company_deletion.receipt import ReceiptProgress
from keel.datacontrol.company_deletion.tests.factories import (
    PERSONAL_NAME,
    RevokeHookServer,
    confirm,
    dump_company,
    make_company_data,
    refusing_mail_server,
    rows_of_company,
    start_deletion,
    stored_files,
    token_of,
)
from keel.datacontrol.deletion import DeletionIncomplete
from keel.datacontrol.models import DeletionReceipt
from keel.integrations.models import IntegrationConnection
from keel.jobs.models import DataJob
from keel.jobs.progress import JobCancelled, Progress
from keel.jobs.runner import run_job
from keel.testing import PASSWORD, make_user, run_queued_jobs

FILLED_TABLES = {
    "accounts.Role", "accounts.User", "accounts.ApiToken", "accounts.Notice", "audit.AuditEvent",
    "contacts.Contact", "contacts.ContactEvent", "contacts.Note", "contacts.Tag", "contacts.ContactTag",
    "contacts.ContactList", "contacts.ListMembership", "contacts.Attachment", "marketing.Campaign",
    "marketing.CampaignRecipient", "marketing.Workflow", "marketing.WorkflowEnrollment",
    "integrations.IntegrationConnection", "jobs.DataJob", "datacontrol.ExportArchive",
}  # fmt: skip
DELETE = "company/delete"
PREFLIGHT = "company/deletion/preflight"
PAGE = "/settings/data/delete/"


# --- the job ----------------------------------------------------------------------------------------------------------


def test_deletion_removes_everything_of_the_company_and_nothing_else(
    company, admin, other_company, api, django_capture_on_commit_callbacks
):
    make_company_data(company)
    make_company_data(other_company)
    company_id = company.pk
    before_counts = {e: n for e, n in api.get(PREFLIGHT).json()["counts"].items() if n}
    files_before = stored_files(company_id)
    assert len(files_before) == 3  # two attachments and one export archive
    assert FILLED_TABLES <= set(rows_of_company(company_id))  # the scan below is of tables that held rows
    other_before = dump_company(other_company.pk)

    with django_capture_on_commit_callbacks(execute=True):
        started = api.post(DELETE, confirm(company)).json()
    with django_capture_on_commit_callbacks(execute=True):
        run_queued_jobs()

    # Every tenant table scanned, and the storage folder: nothing of the company is left.
    assert rows_of_company(company_id) == {}
    assert eraser.remaining_rows(company_id, graph.tenant_models()) == {}
    assert stored_files(company_id) == {} and eraser.remaining_files(company_id) == []
    assert not Company.objects.filter(pk=company_id).exists()
    # The second company with the same data is unchanged, row for row and file for file.
    assert dump_company(other_company.pk) == other_before

    receipt = DeletionReceipt.objects.get(company_id_deleted=company_id)
    assert receipt.state == "succeeded" and receipt.completed_at is not None
    assert receipt.files_deleted == 3
    for entity, n in before_counts.items():
        assert receipt.rows_deleted[entity] >= n, entity
    assert receipt.rows_deleted["contacts"] == 4 and receipt.rows_deleted["users"] == 2
    assert receipt.progress_done == receipt.progress_total

    status = Client().get("/api/v1/deletions/" + token_of(started["status_url"])).json()
    assert status["state"] == "succeeded" and status["progress"]["percent"] == 100
    assert status["receipt_id"] == str(receipt.receipt_id)
    assert status["counts"]["contacts"] == 4 and status["counts"]["files"] == 3
    assert status["completed_at"] is not None

    confirmation = mail.outbox[-1]
    assert confirmation.to == [admin.email] and "System confirmation" in confirmation.subject
    assert str(receipt.receipt_id) in confirmation.body and "Files deleted: 3" in confirmation.body


def test_receipt_holds_no_personal_data(company, admin, started):
    run_queued_jobs()
    receipt = DeletionReceipt.objects.get()
    stored = json.dumps(list(DeletionReceipt.objects.filter(pk=receipt.pk).values()), default=str)
    for personal in (admin.email, PERSONAL_NAME, "Grace", "Hopper", "person0@example.com", "Acme", company.slug, "@"):
        assert personal not in stored
    public = json.dumps(Client().get("/api/v1/deletions/" + token_of(started["status_url"])).json())
    for personal in (admin.email, PERSONAL_NAME, "Acme", "@"):
        assert personal not in public


def test_revoke_hook_is_called_before_any_row_goes_and_credentials_are_gone(transactional_db, company, admin, settings):
    with RevokeHookServer(company.pk) as provider:
        settings.KEEL_OUTBOUND_ALLOWLIST = [provider.url.split("/")[2]]  # the loopback listener: not a public address
        make_company_data(company, revoke_url=provider.url)
        start_deletion(company, admin)
        run_queued_jobs()
    assert len(provider.calls) == 1
    call = provider.calls[0]
    assert call["path"] == "/revoke"
    assert call["form"]["token"] == [f"secret-token-{company.pk}"]
    assert call["contacts"] == 4  # the provider was told before anything of the company was deleted
    assert not IntegrationConnection.objects.filter(company_id=company.pk).exists()
    assert DeletionReceipt.objects.get().rows_deleted["integration_connections"] == 1


def test_integration_step_wipes_credentials_and_touches_nothing_else(company, admin):
    make_company_data(company)
    start_deletion(company, admin)
    contacts_before = Contact.objects.filter(company=company).count()
    deletion_job.disconnect_integrations(Company.objects.get(pk=company.pk))
    assert not IntegrationConnection.objects.filter(company=company).exists()
    assert Contact.objects.filter(company=company).count() == contacts_before == 4


def test_name_and_emails_are_free_again_after_completion(company, admin, started):
    member = User.objects.get(company=company, name=PERSONAL_NAME)
    run_queued_jobs()
    again, again_admin = do_create_company("Acme", admin.email, PASSWORD)
    assert again.pk != company.pk and again_admin.email == admin.email
    assert make_user(again, "member", email=member.email).email == member.email
    response = Client().post(
        "/api/v1/auth/token", json.dumps({"email": admin.email, "password": PASSWORD}), content_type="application/json"
    )
    assert response.status_code == 201  # the new company's administrator signs in with the reused address


def test_job_never_deletes_an_active_company(company, admin):
    make_company_data(company)
    receipt = DeletionReceipt.objects.create(company_id_deleted=company.pk, status_token_hash="0" * 64)
    job = DataJob.objects.create(
        company=company, kind=DataJob.Kind.COMPANY_DELETION, params={"receipt_id": str(receipt.receipt_id)}
    )
    rows_before, files_before = dump_company(company.pk)
    finished = run_job(job.pk)
    assert finished.state == "failed" and "not marked for deletion" in finished.error
    rows_after, files_after = dump_company(company.pk)
    rows_before.pop("jobs.DataJob"), rows_after.pop("jobs.DataJob")  # only the job row itself changed
    assert (rows_after, files_after) == (rows_before, files_before)
    assert Company.objects.get(pk=company.pk).is_active


def test_nothing_is_reported_deleted_while_something_is_left(company, admin, started):
    """The final transaction verifies; if a row of the company is still there, the company row stays."""
    job = DataJob.objects.get(pk=started["job"]["id"])
    receipt = DeletionReceipt.objects.get()
    DataJob.objects.filter(pk=job.pk).update(state=DataJob.State.RUNNING, attempts=1)
    job.refresh_from_db()

    tracker = ReceiptProgress(Progress(job), receipt)
    assert Contact.objects.filter(company=company).exists()
    with pytest.raises(DeletionIncomplete):
        deletion_job.CompanyDeletion(job, tracker).finish()
    assert Company.objects.filter(pk=company.pk).exists()
    assert DataJob.objects.filter(pk=job.pk).exists()
    assert DeletionReceipt.objects.get().state == "running"


def test_a_failed_job_leaves_the_company_closed_and_the_receipt_says_so(company, admin, started, settings):
    job = DataJob.objects.get(pk=started["job"]["id"])
    DataJob.objects.filter(pk=job.pk).update(state=DataJob.State.FAILED, error="boom")
    deletion_job.company_deletion_failed(DataJob.objects.get(pk=job.pk))
    status = Client().get("/api/v1/deletions/" + token_of(started["status_url"])).json()
    assert status["state"] == "failed"
    page = Client().get(started["status_url"].replace("http://testserver", "")).content.decode()
    assert "The deletion has not finished yet." in page
    assert Company.objects.get(pk=company.pk).status == "deleting"

    resumed = deletion_actions.do_resume_company_deletion(Company.objects.get(pk=company.pk), actor=COMMAND_LINE)
    assert resumed.pk != job.pk and resumed.params["requester_email"] == admin.email
    run_queued_jobs()
    assert DeletionReceipt.objects.get().state == "succeeded"
    assert not Company.objects.filter(pk=company.pk).exists()


def test_status_page_shows_the_system_confirmation_with_the_receipt(company, started):
    run_queued_jobs()
    receipt = DeletionReceipt.objects.get()
    response = Client().get(started["status_url"].replace("http://testserver", ""))
    assert response.status_code == 200
    html = response.content.decode()
    assert "System confirmation" in html
    assert str(receipt.receipt_id) in html
    assert re.search(r"<td>Contacts</td><td>4</td>", html)


# --- the system confirmation is sent at least once ------------------------------------------------------------------


def test_confirmation_that_cannot_be_sent_waits_in_the_outbox_until_it_can(company, admin, started, settings):
    """The confirmation is recorded in the job outbox with the deletion's final transaction: a mail server that
    refuses it does not undo the deletion, and any worker's reaper sends it once the server takes it."""
    from keel.jobs.models import JobOutboxEntry
    from keel.jobs.tasks import reap_stale_jobs

    job_id = started["job"]["id"]
    mail.outbox.clear()
    with refusing_mail_server(settings):
        run_job(job_id)
        JobOutboxEntry.objects.update(retry_at=None)  # as if the pause after the failure had passed
        reap_stale_jobs()  # still refused: it stays to be sent, after a longer pause

    receipt = DeletionReceipt.objects.get()
    assert receipt.state == "succeeded" and not Company.objects.filter(pk=company.pk).exists()
    assert not Contact.objects.filter(company_id=company.pk).exists()
    assert Client().get("/api/v1/deletions/" + token_of(started["status_url"])).json()["state"] == "succeeded"
    assert mail.outbox == []
    [pending] = JobOutboxEntry.objects.filter(job_id=job_id)
    assert pending.payload["kwargs"]["email"] == admin.email and pending.attempts == 2  # the address is kept
    assert pending.retry_at > timezone.now()
    reap_stale_jobs()
    assert mail.outbox == []  # not before the pause is over

    JobOutboxEntry.objects.update(retry_at=None)
    reap_stale_jobs()  # the pause is over and e-mail works again

    [confirmation] = mail.outbox
    assert confirmation.to == [admin.email] and "System confirmation" in confirmation.subject
    assert str(receipt.receipt_id) in confirmation.body
    assert not JobOutboxEntry.objects.exists()  # the address went with the entry, after the send
    assert not DataJob.objects.filter(pk=job_id).exists()


def test_confirmation_is_sent_once_when_nothing_fails(company, admin, started):
    mail.outbox.clear()
    run_queued_jobs()
    assert [m.subject for m in mail.outbox] == ["System confirmation: your company's data has been deleted"]


def test_no_confirmation_without_a_requester(company, admin):
    """The operators' command line starts deletions with no requester: there is nobody to e-mail."""
    make_company_data(company)
    deletion_actions.do_start_company_deletion(company, actor=COMMAND_LINE)
    run_queued_jobs()
    assert DeletionReceipt.objects.get().state == "succeeded"
    assert mail.outbox == []


# --- the bar moves while files are deleted ----------------------------------------------------------------------------


def test_progress_is_stored_while_files_are_deleted(company, started, monkeypatch):
    """Files are deleted one by one with the progress stored in between: a job stopped after the first stored
    step has deleted and counted exactly that much, on the receipt and on the job's bar."""
    monkeypatch.setattr(deletion_job.CompanyDeletion, "files_per_save", 1)
    job_id = started["job"]["id"]
    DataJob.objects.filter(pk=job_id).update(state=DataJob.State.RUNNING, attempts=1)
    job = DataJob.objects.get(pk=job_id)
    tracker = ReceiptProgress(Progress(job, heartbeat=False), DeletionReceipt.objects.get())
    deletion = deletion_job.CompanyDeletion(job, tracker)
    deletion.plan()
    receipt = tracker.receipt  # the files are part of the bar's total
    assert receipt.files_total == 3 and receipt.progress_total == sum(receipt.rows_planned.values()) + 3
    assert tracker.progress.total == receipt.progress_total
    DataJob.objects.filter(pk=job_id).update(cancel_requested=True)  # the job stops at its next checkpoint

    with pytest.raises(JobCancelled):
        deletion.erase_files()

    assert eraser.count_files(company.pk) == 2
    receipt = DeletionReceipt.objects.get()
    assert receipt.files_deleted == 1 and receipt.progress_done == 1
    assert DataJob.objects.get(pk=job_id).progress_done == 1


# --- what the status page says when something goes wrong ------------------------------------------------------------


def test_an_interrupted_deletion_says_it_is_retried_and_is_retried(company, admin, started, settings, monkeypatch):
    job_id = started["job"]["id"]
    status_page = started["status_url"].replace("http://testserver", "")

    def broken_final_step(self, jobs_deleted):
        # An internal error in the final transaction (the mail server no longer takes part in it: keel.jobs.outbox)
        raise RuntimeError("the final step failed")

    with monkeypatch.context() as patched:
        patched.setattr(deletion_job.CompanyDeletion, "complete_receipt", broken_final_step)
        for _ in range(settings.KEEL_JOB_MAX_ATTEMPTS + 1):  # more errors than other kinds of job are allowed
            run_job(job_id)
            job = DataJob.objects.get(pk=job_id)
            assert job.state == "queued"  # never given up: retried after a pause
            assert DeletionReceipt.objects.get().step == deletion_job.INTERRUPTED_STEP
    html = Client().get(status_page).content.decode()
    assert "An error interrupted the deletion. Keel retries it automatically" in html
    assert "alerted" not in html
    assert Client().get("/api/v1/deletions/" + token_of(started["status_url"])).json()["state"] == "running"

    run_queued_jobs()
    assert DeletionReceipt.objects.get().step == "Completed"
    assert "System confirmation" in Client().get(status_page).content.decode()


def test_a_deletion_stopped_for_good_says_an_operator_resumes_it(company, started):
    job = DataJob.objects.get(pk=started["job"]["id"])
    DataJob.objects.filter(pk=job.pk).update(state=DataJob.State.FAILED, error="boom")
    deletion_job.company_deletion_failed(DataJob.objects.get(pk=job.pk))
    html = Client().get(started["status_url"].replace("http://testserver", "")).content.decode()
    assert "It stays stopped until an operator resumes it with the command keel delete-company." in html
    assert "alerted" not in html and "will finish it" not in html
