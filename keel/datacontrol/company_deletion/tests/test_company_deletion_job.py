"""Delete company data: the job, the receipt, the system confirmation and what the status page says meanwhile."""

import json
import re

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from keel.accounts.actions import do_create_company
from keel.accounts.models import Company
from keel.contacts.models import Contact
from keel.datacontrol import eraser, graph
from keel.datacontrol.actors import COMMAND_LINE
from keel.datacontrol.company_deletion import actions as deletion_actions
from keel.datacontrol.company_deletion import job as deletion_job
from keel.datacontrol.company_deletion.receipt import ReceiptProgress
from keel.datacontrol.company_deletion.tests.factories import (
    RevokeHookServer,
    confirm,
    dump_company,
    failing_final_step,
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
from keel.mail.models import OutgoingEmail
from keel.mail.outbox import deliver
from keel.testing import INTEGRATION_PLAINTEXT, PASSWORD, fill_every_tenant_table, make_user, run_queued_jobs

DELETE = "company/delete"
PREFLIGHT = "company/deletion/preflight"
PAGE = "/settings/data/delete/"


# --- the job ----------------------------------------------------------------------------------------------------------


def test_deletion_removes_everything_of_the_company_and_nothing_else(
    company, admin, other_company, api, django_capture_on_commit_callbacks
):
    fill_every_tenant_table(company)
    fill_every_tenant_table(other_company)
    company_id = company.pk
    before_counts = {e: n for e, n in api.get(PREFLIGHT).json()["counts"].items() if n}
    files_before = stored_files(company_id)
    assert len(files_before) == 5  # four attachments and one export archive
    tenant_tables = {graph.label(m) for m in graph.tenant_models()}
    assert tenant_tables <= set(rows_of_company(company_id))  # the scan below is of tables that all held rows
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
    assert receipt.files_deleted == 5
    for entity, n in before_counts.items():
        assert receipt.rows_deleted[entity] >= n, entity
    assert receipt.rows_deleted["contacts"] == 7 and receipt.rows_deleted["users"] == 2
    assert receipt.progress_done == receipt.progress_total

    status = Client().get("/api/v1/deletions/" + token_of(started["status_url"])).json()
    assert status["state"] == "succeeded" and status["progress"]["percent"] == 100
    assert status["receipt_id"] == str(receipt.receipt_id)
    assert status["counts"]["contacts"] == 7 and status["counts"]["files"] == 5
    assert status["completed_at"] is not None

    confirmation = mail.outbox[-1]
    assert confirmation.to == [admin.email] and "System confirmation" in confirmation.subject
    assert str(receipt.receipt_id) in confirmation.body and "Files deleted: 5" in confirmation.body


def test_receipt_holds_no_personal_data(company, admin, filled, started):
    people = (admin.email, filled.member.email, filled.member.name, "Acme", "@")
    crm = {value for c in filled.contacts for value in (c.first_name, c.last_name, c.email) if value}
    assert "person0@example.com" in crm and 'Say "hello", then leave' in crm
    run_queued_jobs()
    receipt = DeletionReceipt.objects.get()
    stored = json.dumps(list(DeletionReceipt.objects.filter(pk=receipt.pk).values()), default=str)
    for personal in (*people, *crm, company.slug):
        # as written and as JSON escapes it (quotes, line breaks, non-ASCII letters)
        assert personal not in stored and json.dumps(personal)[1:-1] not in stored, personal
    public = json.dumps(Client().get("/api/v1/deletions/" + token_of(started["status_url"])).json())
    for personal in people:
        assert personal not in public and json.dumps(personal)[1:-1] not in public, personal


def test_revoke_hook_is_called_before_any_row_goes_and_credentials_are_gone(transactional_db, company, admin, settings):
    with RevokeHookServer(company.pk) as provider:
        settings.KEEL_OUTBOUND_ALLOWLIST = [provider.url.split("/")[2]]  # the loopback listener: not a public address
        fill_every_tenant_table(company, revoke_url=provider.url)
        start_deletion(company, admin)
        run_queued_jobs()
    assert len(provider.calls) == 1
    call = provider.calls[0]
    assert call["path"] == "/revoke"
    assert call["form"]["token"] == [INTEGRATION_PLAINTEXT]
    assert call["contacts"] == 7  # the provider was told before anything of the company was deleted
    assert not IntegrationConnection.objects.filter(company_id=company.pk).exists()
    assert DeletionReceipt.objects.get().rows_deleted["integration_connections"] == 1


def test_integration_step_wipes_credentials_and_touches_nothing_else(company, admin):
    fill_every_tenant_table(company)
    start_deletion(company, admin)
    contacts_before = Contact.objects.filter(company=company).count()
    deletion_job.disconnect_integrations(Company.objects.get(pk=company.pk))
    assert not IntegrationConnection.objects.filter(company=company).exists()
    assert Contact.objects.filter(company=company).count() == contacts_before == 7


def test_name_and_emails_are_free_again_after_completion(company, admin, filled, started):
    member = filled.member
    run_queued_jobs()
    again, again_admin = do_create_company("Acme", admin.email, PASSWORD)
    assert again.pk != company.pk and again_admin.email == admin.email
    assert make_user(again, "member", email=member.email).email == member.email
    response = Client().post(
        "/api/v1/auth/token", json.dumps({"email": admin.email, "password": PASSWORD}), content_type="application/json"
    )
    assert response.status_code == 201  # the new company's administrator signs in with the reused address


def test_job_never_deletes_an_active_company(company, admin):
    fill_every_tenant_table(company)
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
    """The final transaction verifies (on PostgreSQL through the company row's foreign keys); if a row of the
    company is still there, the company row stays, and the error names what is left."""
    job = DataJob.objects.get(pk=started["job"]["id"])
    receipt = DeletionReceipt.objects.get()
    DataJob.objects.filter(pk=job.pk).update(state=DataJob.State.RUNNING, attempts=1)
    job.refresh_from_db()

    tracker = ReceiptProgress(Progress(job), receipt)
    assert Contact.objects.filter(company=company).exists()
    deletion = deletion_job.CompanyDeletion(job, tracker)
    with pytest.raises(DeletionIncomplete, match=r"\d+ file\(s\)"):
        deletion.finish()
    deletion.erase_files()
    with pytest.raises(DeletionIncomplete, match="'contacts': 7"):
        deletion.finish()
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
    assert re.search(r"<td>Contacts</td><td>7</td>", html)


# --- the system confirmation is sent at least once ------------------------------------------------------------------


def test_confirmation_that_cannot_be_sent_outlives_the_company_and_is_retried(company, admin, started, settings):
    """The confirmation is queued in the final transaction (the address leaves with the job row) and delivered by
    the e-mail outbox: a refusing mail server neither holds up the deletion nor loses the confirmation."""
    job_id = started["job"]["id"]
    mail.outbox.clear()
    with refusing_mail_server(settings) as work_again:
        run_job(job_id)

        receipt = DeletionReceipt.objects.get()
        assert receipt.state == "succeeded" and not Company.objects.filter(pk=company.pk).exists()
        assert not DataJob.objects.filter(pk=job_id).exists()  # the address went with the job row
        assert Client().get("/api/v1/deletions/" + token_of(started["status_url"])).json()["state"] == "succeeded"
        assert mail.outbox == []
        [queued] = OutgoingEmail.objects.filter(kind="deletion_confirmation")
        assert queued.state == "queued" and queued.company_id is None and queued.to == admin.email
        assert "refused" in queued.last_error and queued.attempts == 1
        work_again()

        OutgoingEmail.objects.filter(pk=queued.pk).update(next_attempt_at=timezone.now())  # its back-off is over
        assert deliver(queued.pk) == "sent"

    [confirmation] = mail.outbox
    assert confirmation.to == [admin.email] and "System confirmation" in confirmation.subject
    assert str(receipt.receipt_id) in confirmation.body
    # Once sent, nothing of the deleted company's requester stays in the outbox either.
    assert not OutgoingEmail.objects.filter(to=admin.email).exists()


def test_confirmation_is_sent_once_when_nothing_fails(company, admin, started):
    mail.outbox.clear()
    run_queued_jobs()
    assert [m.subject for m in mail.outbox] == ["System confirmation: your company's data has been deleted"]


def test_no_confirmation_without_a_requester(company, admin):
    """The operators' command line starts deletions with no requester: there is nobody to e-mail."""
    fill_every_tenant_table(company)
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
    assert receipt.files_total == 5 and receipt.progress_total == sum(receipt.rows_planned.values()) + 5
    assert tracker.progress.total == receipt.progress_total
    DataJob.objects.filter(pk=job_id).update(cancel_requested=True)  # the job stops at its next checkpoint

    with pytest.raises(JobCancelled):
        deletion.erase_files()

    assert eraser.count_files(company.pk) == 4
    receipt = DeletionReceipt.objects.get()
    assert receipt.files_deleted == 1 and receipt.progress_done == 1
    assert DataJob.objects.get(pk=job_id).progress_done == 1


# --- what the status page says when something goes wrong ------------------------------------------------------------


def test_an_interrupted_deletion_says_it_is_retried_and_is_retried(company, admin, started, settings, monkeypatch):
    job_id = started["job"]["id"]
    status_page = started["status_url"].replace("http://testserver", "")
    with failing_final_step(monkeypatch):
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
