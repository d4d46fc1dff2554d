"""Delete all CRM records: what it locks while it runs, the API, and a run killed at any point."""

from datetime import timedelta

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile

from keel.accounts.models import Notice
from keel.audit.models import AuditEvent
from keel.contacts.actions import do_create_contact
from keel.contacts.models import Contact
from keel.datacontrol import eraser
from keel.datacontrol.crm_deletion import job as crm_deletion_job
from keel.datacontrol.crm_deletion.actions import do_start_crm_deletion
from keel.datacontrol.crm_deletion.tests.factories import (
    allow,
    crm_left,
    logged_in,
)
from keel.datacontrol.tests.factories import make_crm_data
from keel.errors import Conflict
from keel.jobs.models import DataJob
from keel.jobs.progress import Progress
from keel.jobs.runner import claim, run_job
from keel.jobs.tasks import reap_stale_jobs
from keel.marketing.models import Campaign
from keel.testing import make_company, run_queued_jobs

PAGE = "/settings/data/crm-deletion/"
COUNTS = "/settings/data/crm-deletion/counts/"
BUTTON = "Delete all CRM Records"
# --- what is refused while it runs, and accepted after -----------------------------------------------------------


CSV = "Email,First Name\nnew@example.com,New\n"


def import_csv(api):
    return api.upload("imports", {"file": SimpleUploadedFile("people.csv", CSV.encode(), content_type="text/csv")})


def test_imports_and_contact_writes_are_refused_during_the_deletion_and_accepted_after(acme, admin, api):
    job = do_start_crm_deletion(admin.company, actor=admin)
    contact = Contact.objects.filter(company=acme).first()

    response = import_csv(api)
    assert response.status_code == 409 and response.json()["error"]["code"] == "crm_deletion_in_progress"
    response = api.post("contacts", {"email": "late@example.com"})
    assert response.status_code == 409 and response.json()["error"]["code"] == "crm_deletion_in_progress"
    response = api.patch(f"contacts/{contact.pk}", {"first_name": "Changed"})
    assert response.status_code == 409
    response = api.post(f"contacts/{contact.pk}/events", {"kind": "call", "title": "Called"})
    assert response.status_code == 409
    with pytest.raises(Conflict) as refused:
        do_create_contact(acme, {"email": "late@example.com"}, actor=admin)
    assert refused.value.code == "crm_deletion_in_progress"
    page = logged_in(admin).post("/contacts/new/", {"email": "late@example.com"}, follow=True)
    assert "All CRM records are being deleted" in page.content.decode()
    assert not Contact.objects.filter(email="late@example.com").exists()

    run_queued_jobs()
    job.refresh_from_db()
    assert job.state == DataJob.State.SUCCEEDED and crm_left(acme) == {}

    assert api.post("contacts", {"email": "after@example.com"}).status_code == 201
    response = import_csv(api)
    assert response.status_code == 202, response.content
    [imported] = run_queued_jobs()
    assert imported.state == DataJob.State.SUCCEEDED
    assert Contact.objects.filter(company=acme, email="new@example.com").exists()


def test_the_deletion_cannot_start_while_an_import_is_active(acme, admin, api):
    assert import_csv(api).status_code == 202
    with pytest.raises(Conflict) as refused:
        do_start_crm_deletion(admin.company, actor=admin)
    assert refused.value.code == "operation_in_progress"
    response = api.post("crm/delete-all", {"confirm": True})
    assert response.status_code == 409 and response.json()["error"]["code"] == "operation_in_progress"
    page = logged_in(admin).post(PAGE)
    assert page.status_code == 409 and "Another operation is in progress" in page.content.decode()
    assert not DataJob.objects.filter(kind=DataJob.Kind.CRM_DELETION).exists()


def test_the_deletion_cannot_start_while_a_campaign_is_sending(acme, admin, api):
    Campaign.objects.filter(company=acme).update(status=Campaign.Status.SENDING)
    response = api.post("crm/delete-all", {"confirm": True})
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "campaign_sending" and "“Spring” is being sent" in error["message"]
    assert not DataJob.objects.filter(kind=DataJob.Kind.CRM_DELETION).exists()  # the job was rolled back
    assert not AuditEvent.objects.filter(action="crm.deletion_started").exists()

    Campaign.objects.filter(company=acme).update(status=Campaign.Status.SENT)
    assert api.post("crm/delete-all", {"confirm": True}).status_code == 202


def test_a_second_start_is_refused_while_one_runs(acme, admin, api):
    do_start_crm_deletion(admin.company, actor=admin)
    response = api.post("crm/delete-all", {"confirm": True})
    assert response.status_code == 409 and response.json()["error"]["code"] == "crm_deletion_in_progress"
    assert DataJob.objects.filter(kind=DataJob.Kind.CRM_DELETION).count() == 1


# --- API ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [{}, {"confirm": False}, None])
def test_api_without_confirm_true_is_refused_with_422(acme, api, body):
    response = api.post("crm/delete-all", body)
    assert response.status_code == 422
    assert response.json()["error"]["code"] in ("confirmation_required", "invalid_input")
    assert not DataJob.objects.exists()


def test_api_confirm_must_be_a_real_boolean(acme, api):
    response = api.post("crm/delete-all", {"confirm": "yes"})
    assert response.status_code == 422 and response.json()["error"]["fields"][0]["field"] == "confirm"
    assert not DataJob.objects.exists()


def test_api_starts_the_job_and_answers_with_the_jobs_shape(acme, api):
    assert api.get("crm/deletion").status_code == 404
    response = api.post("crm/delete-all", {"confirm": True})
    assert response.status_code == 202
    job = response.json()["job"]
    assert job["kind"] == "crm_deletion" and job["state"] == "queued"
    assert api.get(f"jobs/{job['id']}").json() == job
    assert api.get("crm/deletion").json() == job  # the job itself, as GET /api/v1/jobs/{id} returns it

    run_queued_jobs()
    latest = api.get("crm/deletion").json()
    assert latest == api.get(f"jobs/{job['id']}").json()
    assert latest["state"] == "succeeded" and latest["progress"]["percent"] == 100
    assert latest["result"]["deleted"]["contacts"] == 6


def test_api_of_another_company_sees_nothing_of_it(acme, api, other_api):
    job = api.post("crm/delete-all", {"confirm": True}).json()["job"]
    assert other_api.get("crm/deletion").status_code == 404
    assert other_api.get(f"jobs/{job['id']}").status_code == 404
    assert logged_in(other_api.user).get(f"/jobs/{job['id']}/progress/").status_code == 404


def test_api_a_member_may_follow_the_deletion_but_not_start_one(acme, api, member_api):
    assert member_api.post("crm/delete-all", {"confirm": True}).status_code == 403
    api.post("crm/delete-all", {"confirm": True})
    assert member_api.get("crm/deletion").status_code == 200


# --- resumable: a crash at any point -------------------------------------------------------------------------------


class CrashingProgress(Progress):
    """The real progress reporter of a run that dies (as a SIGKILL would) inside its n-th batch."""

    def __init__(self, job, crash_in_batch):
        super().__init__(job, heartbeat=False)
        self.crash_in_batch = crash_in_batch
        self.batches = 0

    def checkpoint(self):
        super().checkpoint()
        self.batches += 1
        if self.batches == self.crash_in_batch:
            raise SystemExit("killed")


@pytest.mark.parametrize("crash_in_batch", [1, 4, 12])
def test_a_run_killed_mid_way_is_resumed_with_the_same_total_and_finishes_once(acme, admin, settings, crash_in_batch):
    settings.KEEL_DELETION_BATCH_ROWS = 3
    job = do_start_crm_deletion(admin.company, actor=admin)
    running = claim(job.pk)
    with pytest.raises(SystemExit):
        crm_deletion_job.run_crm_deletion(running, CrashingProgress(running, crash_in_batch))
    first = DataJob.objects.get(pk=job.pk)
    assert first.progress_total == 60 and first.state == DataJob.State.RUNNING
    assert crm_left(acme)  # half done, and still locked:
    with pytest.raises(Conflict):
        do_create_contact(acme, {"email": "late@example.com"}, actor=admin)

    DataJob.objects.filter(pk=job.pk).update(heartbeat_at=first.heartbeat_at - timedelta(hours=1))
    assert reap_stale_jobs() == [job.pk]
    resumed = run_job(job.pk)

    assert resumed.state == DataJob.State.SUCCEEDED and resumed.attempts == 2
    assert resumed.progress_total == 60 and resumed.progress_done == 60
    assert resumed.result["deleted"]["contact_events"] == 18 and resumed.result["files_deleted"] == 3
    assert crm_left(acme) == {} and eraser.remaining_files(acme.pk) == []
    assert AuditEvent.objects.filter(action="crm.deleted_all").count() == 1


def test_a_run_killed_after_it_finished_its_work_neither_audits_nor_notifies_twice(acme, admin):
    job = do_start_crm_deletion(admin.company, actor=admin)
    running = claim(job.pk)
    crm_deletion_job.run_crm_deletion(running, Progress(running, heartbeat=False))  # killed before being marked done
    DataJob.objects.filter(pk=job.pk).update(heartbeat_at=running.heartbeat_at - timedelta(hours=1))
    reap_stale_jobs()
    finished = run_job(job.pk)
    assert finished.state == DataJob.State.SUCCEEDED
    assert finished.result["deleted"]["contacts"] == 6  # the counts planned at the start, not what the rerun found
    assert AuditEvent.objects.filter(action="crm.deleted_all").count() == 1
    assert Notice.objects.filter(user=admin).count() == 1
    assert len([m for m in mail.outbox if m.to == [admin.email]]) == 1


def test_a_run_killed_after_its_audit_but_before_telling_the_requester_tells_them_on_resume(acme, admin):
    job = do_start_crm_deletion(admin.company, actor=admin)
    running = claim(job.pk)
    crm_deletion_job.run_crm_deletion(running, Progress(running, heartbeat=False))
    # What a run killed right after its audit committed leaves behind: the audit, no notice, no e-mail, no mark.
    Notice.objects.filter(user=admin).delete()
    mail.outbox.clear()
    cursor = {key: value for key, value in running.cursor.items() if key != "notified"}
    DataJob.objects.filter(pk=job.pk).update(cursor=cursor, heartbeat_at=running.heartbeat_at - timedelta(hours=1))
    reap_stale_jobs()

    finished = run_job(job.pk)

    assert finished.state == DataJob.State.SUCCEEDED
    assert AuditEvent.objects.filter(action="crm.deleted_all").count() == 1
    [notice] = Notice.objects.filter(user=admin)
    assert notice.message.startswith("All CRM records have been deleted: 6 contacts")
    [email] = [m for m in mail.outbox if m.to == [admin.email]]
    assert email.subject == "All CRM records have been deleted"


def test_a_deletion_that_keeps_crashing_is_never_given_up_and_keeps_the_lock(acme, admin, settings):
    job = do_start_crm_deletion(admin.company, actor=admin)
    DataJob.objects.filter(pk=job.pk).update(
        state=DataJob.State.RUNNING,
        attempts=settings.KEEL_JOB_MAX_ATTEMPTS + 2,
        heartbeat_at=job.created_at - timedelta(hours=1),
    )
    reap_stale_jobs()
    job.refresh_from_db()
    assert job.state == DataJob.State.QUEUED  # given back to the queue, not failed: the lock holds
    with pytest.raises(Conflict):
        do_create_contact(acme, {"email": "late@example.com"}, actor=admin)
    [finished] = run_queued_jobs()
    assert finished.state == DataJob.State.SUCCEEDED and crm_left(acme) == {}


def test_a_deletion_that_ended_failed_tells_the_requester_and_unlocks(acme, admin):
    job = do_start_crm_deletion(admin.company, actor=admin)
    DataJob.objects.filter(pk=job.pk).update(
        state=DataJob.State.FAILED, error="The storage refused to delete a file.", finished_at=job.created_at
    )
    crm_deletion_job.crm_deletion_failed(DataJob.objects.get(pk=job.pk))  # what the runner calls then
    assert AuditEvent.objects.filter(action="crm.deletion_failed", target_id=str(job.pk)).exists()
    assert Notice.objects.get(user=admin).message.startswith(
        "The deletion of all CRM records stopped: The storage refused to delete a file."
    )
    page = logged_in(admin).get("/contacts/").content.decode()
    assert "The deletion of all CRM records did not finish." in page
    assert "The storage refused to delete a file." in page
    assert BUTTON in page
    do_create_contact(acme, {"email": "writable@example.com"}, actor=admin)  # nothing is locked any more


def test_a_company_without_crm_records_is_deleted_in_no_time(company, admin):
    allow(company)
    admin.role.refresh_from_db()
    job = do_start_crm_deletion(admin.company, actor=admin)
    [finished] = run_queued_jobs()
    assert finished.pk == job.pk and finished.state == DataJob.State.SUCCEEDED
    assert finished.result["summary"] == "Deleted 0 contacts, 0 history events and 0 other contact records."


def test_a_contact_of_another_company_named_like_one_of_ours_is_untouched(acme, admin):
    other = make_company("Initech")
    make_crm_data(other, contacts=2, files=False)
    do_start_crm_deletion(admin.company, actor=admin)
    run_queued_jobs()
    assert Contact.objects.filter(company=other).count() == 2
