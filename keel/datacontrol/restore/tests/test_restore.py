"""Restore through the API and the job: the round trip, every refusal, all or nothing, users merged, skipped and
invited, and tenant isolation."""

import csv
import io

import pytest
from django.core import mail
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from keel.accounts.models import ApiToken, Company, User
from keel.audit.models import AuditEvent
from keel.contacts.models import Attachment, Contact, ContactEvent
from keel.datacontrol.actors import COMMAND_LINE
from keel.datacontrol.company_deletion.actions import do_start_company_deletion
from keel.datacontrol.restore import actions as restores
from keel.datacontrol.restore import adapters
from keel.datacontrol.restore import job as restore_job
from keel.datacontrol.restore.tests.archives import csv_rows, export_bytes, rewrite_archive, round_trip_differences
from keel.integrations.models import IntegrationConnection
from keel.jobs.models import DataJob
from keel.marketing.models import Campaign, Workflow
from keel.testing import ApiClient, fill_every_tenant_table, make_company, make_user, run_queued_jobs

pytestmark = pytest.mark.django_db(transaction=True)


def as_upload(data, name="keel-export.zip"):
    return SimpleUploadedFile(name, data, content_type="application/zip")


def restore_via_api(api, data, **fields):
    return api.upload("restores", {"file": as_upload(data)}, fields)


def delete_company(company):
    do_start_company_deletion(company, actor=COMMAND_LINE)
    run_queued_jobs()
    assert not Company.objects.filter(pk=company.pk).exists()


def test_round_trip_of_a_deleted_company_gives_back_every_row_and_file(company):
    made = fill_every_tenant_table(company)
    original = export_bytes(company)
    admin_email = made.admin.email
    files = {a.filename: a.file.read() for a in Attachment.objects.filter(company=company)}
    delete_company(company)

    target = make_company("Phoenix")
    User.objects.filter(pk=target.admin.pk).update(email=admin_email)  # the same administrator comes back
    target.admin.refresh_from_db()
    restores.do_start_restore(target, as_upload(original), actor=target.admin)
    [job] = run_queued_jobs()
    assert job.state == DataJob.State.SUCCEEDED, job.error

    differences = round_trip_differences(original, export_bytes(target), merged_emails={admin_email})
    assert differences == [], "\n".join(differences)
    restored = {a.filename: a.file.read() for a in Attachment.objects.filter(company=target)}
    assert restored == files  # byte for byte
    assert job.result["rows"]["contacts"] == 7 and job.result["files"] == 4
    assert job.result["source"]["company"] == "Acme" and job.result["source"]["keel_version"]
    event = AuditEvent.objects.get(company=target, action="restore.completed")
    assert event.metadata["rows"]["contact_events"] == 14


def test_what_restore_changes_by_design(company):
    fill_every_tenant_table(company)
    Campaign.objects.filter(company=company).update(status=Campaign.Status.SENDING)
    Workflow.objects.filter(company=company).update(status=Workflow.Status.ACTIVE)
    original = export_bytes(company)
    target = make_company("Phoenix")
    restores.do_start_restore(target, as_upload(original), actor=target.admin)
    [job] = run_queued_jobs()
    assert job.state == DataJob.State.SUCCEEDED, job.error
    assert set(Campaign.objects.filter(company=target).values_list("status", flat=True)) == {"stopped"}
    assert set(Workflow.objects.filter(company=target).values_list("status", flat=True)) == {"inactive"}
    assert all(c.encrypted_access_token == "" for c in IntegrationConnection.objects.filter(company=target))
    assert target.name == Company.objects.get(pk=target.pk).name == "Phoenix"  # company.csv never overwrites


def test_users_are_merged_skipped_or_created_without_a_usable_password_and_invited(company):
    made = fill_every_tenant_table(company)
    newcomer = make_user(company, "manager", email="newcomer@acme.test")
    original = export_bytes(company)
    target = make_company("Phoenix")
    colleague = make_user(target, "member", email=newcomer.email.replace("newcomer", "colleague"))
    User.objects.filter(pk=newcomer.pk).update(email="moved@acme.test")  # the address is free again elsewhere
    User.objects.filter(pk=colleague.pk).update(email="newcomer@acme.test")  # ...and belongs to the target now

    restores.do_start_restore(target, as_upload(original), actor=target.admin, invite_users=True)
    mail.outbox.clear()
    [job] = run_queued_jobs()
    assert job.state == DataJob.State.SUCCEEDED, job.error

    skipped = {(row["entity"], row["reason"]) for row in job.result["skipped"]}
    # The source company still exists: its admin and member keep their addresses there.
    assert ("users", "the e-mail address belongs to an account in another company") in skipped
    assert User.objects.filter(company=target, email="newcomer@acme.test").count() == 1  # merged, not doubled
    assert not User.objects.filter(company=target, email=made.member.email).exists()
    assert ApiToken.objects.filter(company=target).count() == 0  # the skipped admin's token goes with them
    assert job.result["skipped_total"]["users"] == 2


def test_restored_users_get_no_usable_password_and_an_invitation_when_asked(company):
    fill_every_tenant_table(company)
    original = export_bytes(company)
    delete_company(company)
    target = make_company("Phoenix")
    restores.do_start_restore(target, as_upload(original), actor=target.admin, invite_users=True)
    mail.outbox.clear()
    [job] = run_queued_jobs()
    assert job.state == DataJob.State.SUCCEEDED, job.error
    created = User.objects.filter(company=target).exclude(pk=target.admin.pk)
    assert created.count() == 2 and not any(user.has_usable_password() for user in created)
    invited = {message.to[0] for message in mail.outbox}
    assert set(created.values_list("email", flat=True)) <= invited
    tokens = ApiToken.objects.filter(company=target)
    assert tokens.exists() and all(token.revoked_at for token in tokens)


def test_without_invite_no_user_gets_an_email(company):
    fill_every_tenant_table(company)
    original = export_bytes(company)
    delete_company(company)
    target = make_company("Phoenix")
    restores.do_start_restore(target, as_upload(original), actor=target.admin)
    mail.outbox.clear()
    run_queued_jobs()
    assert [m.to for m in mail.outbox] == [[target.admin.email]]  # only the requester hears that it finished


@pytest.fixture
def archive_of_acme(company):
    fill_every_tenant_table(company, contacts=3)
    return export_bytes(company)


@pytest.fixture
def empty_target():
    return make_company("Phoenix")


def test_not_a_zip_is_refused_at_once(empty_target):
    response = restore_via_api(ApiClient(empty_target.admin), b"email,name\nada@example.com,Ada\n")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_archive"
    assert not DataJob.objects.filter(company=empty_target).exists()


def test_an_unknown_format_version_is_refused_naming_it(archive_of_acme, empty_target):
    newer = rewrite_archive(archive_of_acme, edit_manifest=lambda m: m.update(format_version=2))
    response = restore_via_api(ApiClient(empty_target.admin), newer)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "unsupported_archive_version"
    assert "format version 2" in response.json()["error"]["message"]


def test_a_damaged_archive_is_refused_naming_the_file(archive_of_acme, empty_target):
    damaged = rewrite_archive(archive_of_acme, replace={"notes.csv": b"id,contact_id\r\n"}, fix_checksums=False)
    response = restore_via_api(ApiClient(empty_target.admin), damaged)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "archive_corrupt" and error["file"] == "notes.csv"
    assert not Contact.objects.filter(company=empty_target).exists()


def test_damage_found_by_the_job_fails_it_naming_the_file_and_leaves_the_company_empty(
    archive_of_acme, empty_target, monkeypatch
):
    monkeypatch.setattr(restores, "INLINE_VERIFY_BYTES", 0)  # as for a large archive: the job checks it
    events = rewrite_archive(archive_of_acme, replace={"contact_events.csv": b"garbage"}, fix_checksums=False)
    response = restore_via_api(ApiClient(empty_target.admin), events)
    assert response.status_code == 202
    [job] = run_queued_jobs()
    assert job.state == DataJob.State.FAILED
    assert "contact_events.csv" in job.error and "Nothing was restored" in job.error
    assert restores.holdings(empty_target) == {}


def edit_cells(data, path, column, value):
    """The archive with one column of every row of a file set to ``value``, checksums fixed: damage that only
    reading the values finds."""
    rows = csv_rows(data, path)
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows({**row, column: value} for row in rows)
    return rewrite_archive(data, replace={path: out.getvalue().encode()})


def restore_and_fail(data, company):
    restores.do_start_restore(company, as_upload(data), actor=company.admin)
    [job] = run_queued_jobs()
    assert job.state == DataJob.State.FAILED
    assert restores.holdings(company) == {}
    return job.error


def test_a_value_that_cannot_be_read_fails_the_job_naming_file_line_and_column(archive_of_acme, empty_target):
    error = restore_and_fail(edit_cells(archive_of_acme, "contacts.csv", "created_at", "yesterday"), empty_target)
    assert "contacts.csv, line 2: a value cannot be read (created_at is not a valid datetime: “yesterday”)" in error


def test_a_json_cell_the_database_refuses_fails_the_job_naming_the_file(archive_of_acme, empty_target):
    error = restore_and_fail(edit_cells(archive_of_acme, "contacts.csv", "custom_fields", "{not json"), empty_target)
    assert error.startswith("contacts.csv: a row cannot be stored (")


def test_json_cells_come_back_as_the_values_they_were(archive_of_acme, empty_target):
    edited = edit_cells(archive_of_acme, "contacts.csv", "custom_fields", '{"tier": "gold", "seats": [1, 2.5, null]}')
    restores.do_start_restore(empty_target, as_upload(edited), actor=empty_target.admin)
    [job] = run_queued_jobs()
    assert job.state == DataJob.State.SUCCEEDED
    values = {c.custom_fields["tier"] for c in Contact.objects.filter(company=empty_target)}
    assert values == {"gold"}
    assert Contact.objects.filter(company=empty_target, custom_fields__seats__1=2.5).count() == 3


def test_the_job_does_not_read_again_an_archive_the_upload_checked(archive_of_acme, empty_target, monkeypatch):
    monkeypatch.setattr(restore_job, "verify", lambda *args: pytest.fail("checked twice"))
    restores.do_start_restore(empty_target, as_upload(archive_of_acme), actor=empty_target.admin)
    [job] = run_queued_jobs()
    assert job.state == DataJob.State.SUCCEEDED and Contact.objects.filter(company=empty_target).count() == 3


def test_a_stored_archive_changed_after_the_upload_check_is_checked_again_by_the_job(archive_of_acme, empty_target):
    job = restores.do_start_restore(empty_target, as_upload(archive_of_acme), actor=empty_target.admin)
    damaged = rewrite_archive(archive_of_acme, replace={"contact_events.csv": b"garbage"}, fix_checksums=False)
    default_storage.delete(job.params["archive"])
    assert default_storage.save(job.params["archive"], ContentFile(damaged)) == job.params["archive"]
    [job] = run_queued_jobs()
    assert job.state == DataJob.State.FAILED
    assert "contact_events.csv" in job.error and "Nothing was restored" in job.error
    assert restores.holdings(empty_target) == {}


def test_a_company_that_holds_data_is_refused_naming_what(archive_of_acme, empty_target):
    Contact.objects.create(company=empty_target, email="here@example.com")
    response = restore_via_api(ApiClient(empty_target.admin), archive_of_acme)
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "company_not_empty" and error["holds"] == {"contacts": 1}
    assert "1 contacts" in error["message"]


def test_another_active_operation_is_refused(archive_of_acme, empty_target):
    DataJob.objects.create(company=empty_target, kind=DataJob.Kind.IMPORT, state=DataJob.State.RUNNING)
    response = restore_via_api(ApiClient(empty_target.admin), archive_of_acme)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "operation_in_progress"


def test_a_second_restore_while_one_runs_is_refused_and_crm_writes_wait(archive_of_acme, empty_target):
    api = ApiClient(empty_target.admin)
    assert restore_via_api(api, archive_of_acme).status_code == 202
    assert restore_via_api(api, archive_of_acme).status_code == 409
    refused = api.post("contacts", {"email": "late@example.com"})
    assert refused.status_code == 409


def test_a_lower_role_is_refused(archive_of_acme, empty_target):
    member = make_user(empty_target, "member")
    response = restore_via_api(ApiClient(member), archive_of_acme)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    manager = make_user(empty_target, "manager")
    assert ApiClient(manager).upload("restores/preview", {"file": as_upload(archive_of_acme)}).status_code == 403


def test_another_companys_restore_job_answers_404(archive_of_acme, empty_target, other_company):
    job_id = restore_via_api(ApiClient(empty_target.admin), archive_of_acme).json()["job"]["id"]
    assert ApiClient(other_company.admin).get(f"jobs/{job_id}").status_code == 404


def test_preview_says_what_the_archive_holds_without_writing(archive_of_acme, empty_target):
    response = ApiClient(empty_target.admin).upload("restores/preview", {"file": as_upload(archive_of_acme)})
    assert response.status_code == 200
    body = response.json()
    assert body["source"]["company"] == "Acme" and body["rows"]["contacts"] == 3
    assert not DataJob.objects.filter(company=empty_target).exists()


def test_a_failure_late_in_the_restore_erases_what_it_wrote(archive_of_acme, empty_target, monkeypatch, settings):
    settings.KEEL_JOB_MAX_ATTEMPTS = 1

    def broken(self, restorer, model, old, row):
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(adapters.WorkflowAdapter, "make", broken)  # after contacts, history, users, campaigns...
    users_before = set(User.objects.filter(company=empty_target).values_list("pk", flat=True))
    restores.do_start_restore(empty_target, as_upload(archive_of_acme), actor=empty_target.admin)
    [job] = run_queued_jobs()
    assert job.state == DataJob.State.FAILED
    assert restores.holdings(empty_target) == {}
    assert not ContactEvent.objects.filter(company=empty_target).exists()
    assert set(User.objects.filter(company=empty_target).values_list("pk", flat=True)) == users_before
    assert not Attachment.objects.filter(company=empty_target).exists()
    assert AuditEvent.objects.filter(company=empty_target, action="restore.failed").count() == 1
    assert AuditEvent.objects.filter(company=empty_target, action="restore.requested").count() == 1


def test_an_interrupted_attempt_is_erased_before_the_next_one_restores_again(archive_of_acme, empty_target):
    job = restores.do_start_restore(empty_target, as_upload(archive_of_acme), actor=empty_target.admin)
    # An earlier attempt that died half-way left rows behind (as a SIGKILL would).
    Contact.objects.create(company=empty_target, email="half@example.com")
    [finished] = run_queued_jobs()
    assert finished.pk == job.pk and finished.state == DataJob.State.SUCCEEDED
    assert not Contact.objects.filter(company=empty_target, email="half@example.com").exists()
    assert Contact.objects.filter(company=empty_target).count() == 3


def test_the_uploaded_archive_is_not_kept_after_the_restore(archive_of_acme, empty_target):
    from django.core.files.storage import default_storage

    job = restores.do_start_restore(empty_target, as_upload(archive_of_acme), actor=empty_target.admin)
    assert default_storage.exists(job.params["archive"])
    run_queued_jobs()
    assert not default_storage.exists(job.params["archive"])


def test_restore_can_read_from_any_binary_file(archive_of_acme, empty_target):
    upload = SimpleUploadedFile("backup.zip", io.BytesIO(archive_of_acme).read())
    job = restores.do_start_restore(empty_target, upload, actor=empty_target.admin)
    [done] = run_queued_jobs()
    assert done.pk == job.pk and done.state == DataJob.State.SUCCEEDED
