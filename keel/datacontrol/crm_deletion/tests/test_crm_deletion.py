"""Delete all CRM records: who may, what it says, and what it deletes and keeps."""

from datetime import timedelta

import pytest
from django.core import mail
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from keel.accounts.models import Notice, Role
from keel.audit.models import AuditEvent
from keel.contacts.imports.actions import do_upload_import_file
from keel.contacts.models import Attachment, ContactList, Tag
from keel.datacontrol import eraser, graph
from keel.datacontrol.crm_deletion import actions as crm_deletion_actions
from keel.datacontrol.crm_deletion import job as crm_deletion_job
from keel.datacontrol.crm_deletion.actions import CONFIRMATION_TEXT, do_start_crm_deletion
from keel.datacontrol.crm_deletion.tests.factories import (
    crm_left,
    kept_tables,
    logged_in,
    old_rows_unchanged,
)
from keel.datacontrol.tests.factories import dump, make_crm_data
from keel.errors import Forbidden
from keel.jobs.models import DataJob
from keel.jobs.progress import Progress
from keel.jobs.runner import claim
from keel.marketing.models import Campaign, Workflow
from keel.testing import ApiClient, make_user, run_queued_jobs

PAGE = "/settings/data/crm-deletion/"
COUNTS = "/settings/data/crm-deletion/counts/"
BUTTON = "Delete all CRM Records"
# --- who sees the button, and the 403 behind it ------------------------------------------------------------------


@pytest.mark.parametrize("role_kind", ["admin", "manager", "member"])
@pytest.mark.parametrize("permitted", [True, False])
def test_button_and_server_checks_for_each_role_and_permission(company, role_kind, permitted):
    user = company.admin if role_kind == "admin" else make_user(company, role_kind)
    role = Role.objects.get(company=company, kind=role_kind)
    # Set directly: the roles page refuses this permission for other roles; the server must refuse it anyway.
    others = set(role.permissions) - {crm_deletion_actions.PERMISSION}
    role.permissions = sorted(others | {crm_deletion_actions.PERMISSION}) if permitted else sorted(others)
    role.save()
    allowed = role_kind == "admin" and permitted
    client = logged_in(user)

    contacts_page = client.get("/contacts/").content.decode()
    assert (BUTTON in contacts_page) is allowed
    assert ('id="crm-deletion-dialog"' in contacts_page) is allowed
    assert client.get(PAGE).status_code == (200 if allowed else 403)
    assert client.get(COUNTS).status_code == (200 if allowed else 403)
    refused = client.post(PAGE)
    api = ApiClient(user).post("crm/delete-all", {"confirm": True})
    if allowed:
        assert refused.status_code == 302 and api.status_code == 409  # the page's deletion runs: the API's waits
    else:
        assert refused.status_code == 403
        assert api.status_code == 403 and api.json()["error"]["code"] == "permission_denied"
        assert not DataJob.objects.filter(kind=DataJob.Kind.CRM_DELETION).exists()
        with pytest.raises(Forbidden):
            do_start_crm_deletion(user.company, actor=user)


def test_an_anonymous_visitor_is_sent_to_log_in(client):
    assert client.get(PAGE).url.startswith("/login/")
    assert client.post(PAGE).url.startswith("/login/")


# --- what the confirmation says ---------------------------------------------------------------------------------


def test_dialog_on_the_contacts_page_has_the_exact_text_yes_no_and_the_export_link(acme, admin_client):
    page = admin_client.get("/contacts/").content.decode()
    dialog = page[page.index('<dialog id="crm-deletion-dialog"') : page.index("</dialog>")]
    assert CONFIRMATION_TEXT in dialog
    assert CONFIRMATION_TEXT == (
        "All CRM records, their data and history will be permanently deleted. If you need this data, please export "
        "it before continuing. Are you sure?"
    )
    assert '<button type="submit" class="danger" name="confirm" value="yes">Yes</button>' in dialog
    assert ">No</button>" in dialog
    assert 'href="/settings/data/export/"' in dialog
    assert f'data-crm-deletion-counts="{COUNTS}"' in dialog  # loaded when the dialog opens
    assert f'action="{PAGE}"' in dialog


def test_the_counts_the_dialog_loads_are_the_companys_own(acme, other_company, admin_client):
    make_crm_data(other_company, contacts=9)
    counts = admin_client.get(COUNTS).content.decode()
    assert '<strong class="count-contacts">6</strong> contacts' in counts
    assert '<strong class="count-history-events">18</strong> history events' in counts
    # notes, tags, list memberships, campaign recipients, workflow enrollments: 6 each; 3 attachments
    assert '<strong class="count-other-records">33</strong> other contact records' in counts


def test_confirmation_page_without_javascript_has_the_same_text_counts_and_choices(acme, admin_client):
    response = admin_client.get(PAGE)
    page = response.content.decode()
    assert response.status_code == 200
    assert CONFIRMATION_TEXT in page
    assert '<strong class="count-contacts">6</strong>' in page
    assert '<strong class="count-history-events">18</strong>' in page
    assert '<strong class="count-other-records">33</strong>' in page
    assert 'href="/settings/data/export/"' in page
    assert ">Yes</button>" in page and '<a class="button secondary" href="/contacts/">No</a>' in page
    assert "This action cannot be undone" in page
    assert not DataJob.objects.exists()  # looking changes nothing


def test_the_contacts_page_links_the_button_to_the_confirmation_page_for_browsers_without_javascript(
    acme, admin_client
):
    page = admin_client.get("/contacts/").content.decode()
    assert f'<a class="button danger" id="crm-delete-all" href="{PAGE}" data-dialog-open="crm-deletion-dialog">' in page


# --- the whole flow through the pages --------------------------------------------------------------------------


def test_yes_starts_the_job_which_deletes_every_crm_record_and_keeps_the_rest(acme, other_company, admin):
    make_crm_data(other_company)
    client = logged_in(admin)
    other_before = dump(other_company)
    kept_before = dump(acme, kept_tables())
    bookkeeping_before = dump(acme)

    response = client.post(PAGE)
    assert response.status_code == 302 and response.url == "/contacts/"
    job = DataJob.objects.get(company=acme, kind=DataJob.Kind.CRM_DELETION)
    assert job.state == DataJob.State.QUEUED and job.requested_by == admin
    assert job.params == {}  # who asked is the requested_by link: no copy of their e-mail address in the job
    [finished] = run_queued_jobs()

    assert finished.state == DataJob.State.SUCCEEDED and finished.percent == 100
    assert crm_left(acme) == {}
    assert dump(other_company) == other_before
    assert dump(acme, kept_tables()) == kept_before
    assert old_rows_unchanged(bookkeeping_before, dump(acme))
    assert Campaign.objects.filter(company=acme).count() == 1 and Workflow.objects.filter(company=acme).count() == 1
    assert Tag.objects.filter(company=acme).count() == 1 and ContactList.objects.filter(company=acme).count() == 1
    assert finished.result["deleted"] == {
        "workflow_enrollments": 6,
        "campaign_recipients": 6,
        "notes": 6,
        "attachments": 3,
        "list_memberships": 6,
        "contact_tags": 6,
        "contact_events": 18,
        "contacts": 6,
    }
    assert finished.result["summary"] == "Deleted 6 contacts, 18 history events and 33 other contact records."
    assert finished.progress_total == 57 + 3  # rows and attachment files, counted at the start
    assert finished.progress_done == finished.progress_total


def test_attachment_files_are_gone_from_storage_and_the_other_companys_stay(acme, other_company, admin):
    make_crm_data(other_company)
    default_storage.save(f"companies/{acme.pk}/exports/kept.zip", SimpleUploadedFile("kept.zip", b"zip"))
    acme_files = [a.file.name for a in Attachment.objects.filter(company=acme)]
    other_files = eraser.remaining_files(other_company.pk)
    assert len(acme_files) == 3 and all(default_storage.exists(name) for name in acme_files)

    job = do_start_crm_deletion(admin.company, actor=admin)
    run_queued_jobs()

    assert not any(default_storage.exists(name) for name in acme_files)
    assert eraser.remaining_files(acme.pk) == [f"companies/{acme.pk}/exports/kept.zip"]  # exports are kept
    assert eraser.remaining_files(other_company.pk) == other_files
    job.refresh_from_db()
    assert job.result["files_deleted"] == 3


PROBLEM_CSV = "Email,First Name\nnot-an-email,Secretname\nfine@example.com,Fine\n"


def csv_file(content, name="people.csv"):
    return SimpleUploadedFile(name, content.encode(), content_type="text/csv")


def import_files(company):
    return [name for name in eraser.remaining_files(company.pk) if "/imports/" in name]


def test_import_uploads_and_error_reports_go_too_and_their_pages_then_answer_404(acme, other_company, admin, api):
    other_api = ApiClient(other_company.admin)
    finished_import = api.upload("imports", {"file": csv_file(PROBLEM_CSV)}).json()["job"]["id"]
    other_import = other_api.upload("imports", {"file": csv_file(PROBLEM_CSV)}).json()["job"]["id"]
    run_queued_jobs()
    # uploaded, never started
    pending = do_upload_import_file(admin.company, csv_file(PROBLEM_CSV, "later.csv"), actor=admin)
    report = api.get(f"imports/{finished_import}/errors")
    assert report.status_code == 200 and b"Secretname" in b"".join(report.streaming_content)
    assert len(import_files(acme)) == 3  # the error report; the pending upload and its description with sample rows
    other_files = eraser.remaining_files(other_company.pk)
    planned = sum(crm_counts(acme).values())

    job = do_start_crm_deletion(admin.company, actor=admin)
    run_queued_jobs()

    job.refresh_from_db()
    assert import_files(acme) == []
    assert not default_storage.exists(f"companies/{acme.pk}/imports")
    assert job.result["files_deleted"] == 3 + 3  # attachments and import files
    assert job.progress_total == planned + 3 + 3 and job.progress_done == job.progress_total
    assert eraser.remaining_files(other_company.pk) == other_files
    assert b"Secretname" in b"".join(other_api.get(f"imports/{other_import}/errors").streaming_content)

    gone = api.get(f"imports/{finished_import}/errors")
    assert gone.status_code == 404
    assert gone.json()["error"] == {"code": "no_error_report", "message": "This import has no error report."}
    client = logged_in(admin)
    assert client.get(f"/contacts/import/{finished_import}/errors.csv").status_code == 404
    job_page = client.get(f"/contacts/import/{finished_import}/")
    assert job_page.status_code == 200
    assert b"Download the error report" not in job_page.content
    assert b"no longer kept" in job_page.content
    assert client.get(f"/contacts/import/upload/{pending.token}/").status_code == 404


def crm_counts(company):
    return eraser.count_rows(company.pk, graph.crm_models())


class RecordingProgress(Progress):
    """The real progress reporter, remembering the step and the rows done at every save."""

    def __init__(self, job):
        super().__init__(job, heartbeat=False)
        self.saved = []

    def save(self):
        super().save()
        self.saved.append((self.step_text, self.done))


def test_the_status_bar_moves_while_the_files_are_deleted(acme, admin):
    for i in range(2 * crm_deletion_job.FILES_PER_SAVE + 2):
        default_storage.save(f"companies/{acme.pk}/imports/{i:032x}/errors.csv", SimpleUploadedFile("e", b"row"))
    rows = sum(crm_counts(acme).values())
    job = do_start_crm_deletion(admin.company, actor=admin)
    running = claim(job.pk)
    progress = RecordingProgress(running)

    crm_deletion_job.run_crm_deletion(running, progress)

    total = rows + 3 + 2 * crm_deletion_job.FILES_PER_SAVE + 2
    assert progress.total == total
    during_files = [done for step, done in progress.saved if step in crm_deletion_job.CRM_FOLDERS.values()]
    assert during_files == sorted(during_files) and len(set(during_files)) >= 4
    assert rows < during_files[0] < during_files[-2] < total  # saved as files go, not once after the last one
    assert during_files[-1] == total
    assert DataJob.objects.get(pk=job.pk).progress_done == total


def test_the_audit_log_records_who_deleted_what_and_the_requester_is_told(acme, admin):
    job = do_start_crm_deletion(admin.company, actor=admin)
    run_queued_jobs()

    [started] = AuditEvent.objects.filter(company=acme, action="crm.deletion_started")
    [deleted] = AuditEvent.objects.filter(company=acme, action="crm.deleted_all")
    assert started.actor == admin and deleted.actor == admin
    assert deleted.target_type == "datajob" and deleted.target_id == str(job.pk)
    assert deleted.metadata["deleted"]["contacts"] == 6 and deleted.metadata["deleted"]["contact_events"] == 18
    assert deleted.metadata["files_deleted"] == 3
    [notice] = Notice.objects.filter(user=admin)
    assert notice.message.startswith("All CRM records have been deleted: 6 contacts, 18 history events")
    assert notice.link == "/contacts/"
    [email] = [m for m in mail.outbox if m.to == [admin.email]]
    assert email.subject == "All CRM records have been deleted"


def test_contacts_page_shows_the_running_banner_to_everyone_then_the_result_once(acme, admin, member):
    job = do_start_crm_deletion(admin.company, actor=admin)
    member_client = logged_in(member)
    admin_client = logged_in(admin)

    for client in (member_client, admin_client):
        page = client.get("/contacts/").content.decode()
        assert "All CRM records are being deleted" in page
        assert f'data-job-progress="/jobs/{job.pk}/progress/"' in page  # the status bar, updating itself
        assert BUTTON not in page  # no second deletion while one runs
    assert "Imports are not possible while all CRM records are being deleted." in page  # the admin may import
    assert member_client.get(f"/jobs/{job.pk}/progress/").status_code == 200

    run_queued_jobs()
    first = member_client.get("/contacts/").content.decode()
    assert "All CRM records have been deleted." in first
    assert "Deleted 6 contacts, 18 history events and 33 other contact records." in first
    assert "100 %" in first
    assert "All CRM records are being deleted" not in first
    again = member_client.get("/contacts/").content.decode()
    assert "All CRM records have been deleted." not in again  # said once
    assert "No contacts here." in again
    assert BUTTON in admin_client.get("/contacts/").content.decode()


def test_an_old_result_is_not_announced(acme, admin, member):
    job = do_start_crm_deletion(admin.company, actor=admin)
    run_queued_jobs()
    DataJob.objects.filter(pk=job.pk).update(finished_at=job.created_at - timedelta(days=8))
    assert "All CRM records have been deleted." not in logged_in(member).get("/contacts/").content.decode()
