"""Exports through the API and the Export Data page: who may, plan and rate limits, the job's whole life,
download, deletion, expiry, notifications and the audit trail."""

import hashlib
import io
import json
import os
import re
import zipfile
from datetime import timedelta

import pytest
from django.core import mail
from django.core.files.storage import default_storage
from django.utils import timezone

from keel.accounts.models import Company, Notice
from keel.audit.models import AuditEvent
from keel.datacontrol.export import actions as exports
from keel.datacontrol.export import job as export_job
from keel.datacontrol.export import scopes
from keel.datacontrol.models import ExportArchive
from keel.jobs.models import DataJob
from keel.jobs.progress import NoProgress
from keel.jobs.registry import HANDLERS, PERIODIC
from keel.storage import list_folder, walk_files
from keel.testing import ApiClient, make_company, make_user, run_queued_jobs

pytestmark = pytest.mark.usefixtures("transactional_db")


def start(api, scope=None):
    response = api.post("exports", {"scope": scope} if scope is not None else None)
    assert response.status_code == 202, response.content
    return response.json()


def finished_export(api, scope=None):
    created = start(api, scope)
    run_queued_jobs()
    return api.get(f"exports/{created['id']}").json()


def audit_actions(company):
    return list(
        AuditEvent.objects.filter(company=company, action__startswith="export.").values_list("action", flat=True)
    )


# --- starting -----------------------------------------------------------------------------------------------------


def test_start_answers_202_with_the_export_object(api, company):
    body = start(api)
    assert set(body) >= {
        "id",
        "state",
        "scope",
        "progress",
        "created_at",
        "finished_at",
        "expires_at",
        "size",
        "sha256",
        "download_url",
    }
    assert body["state"] == "queued"
    assert body["scope"] == list(scopes.SCOPES)
    assert body["progress"] == {"done": 0, "total": 0, "percent": 0}
    assert body["download_url"] is None and body["size"] is None and body["finished_at"] is None
    job = DataJob.objects.get(company=company, kind="export")
    assert job.params == {"scope": list(scopes.SCOPES)} and job.requested_by == company.admin
    assert "export.requested" in audit_actions(company)


def test_scope_is_chosen_and_unknown_scope_is_named(api, company):
    assert start(api, ["users", "contacts"])["scope"] == ["contacts", "users"]
    response = api.post("exports", {"scope": ["contacts", "deals"]})
    assert response.status_code == 422
    error = response.json()["error"]
    assert "deals" in error["message"] and error["field"] == "scope" and error["unknown"] == ["deals"]
    response = api.post("exports", {"scope": []})
    assert response.status_code == 422 and "at least one" in response.json()["error"]["message"]
    response = api.post("exports", {"scope": "contacts"})
    assert response.status_code == 422
    assert ExportArchive.objects.filter(company=company).count() == 1


def test_free_plan_is_not_eligible(db):
    free = make_company("Freebie", plan="free")
    api = ApiClient(free.admin)
    response = api.post("exports", {})
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "plan_not_eligible"
    assert error["message"].startswith("Export is not available for your plan")
    assert "Standard" in error["message"] and "Enterprise" in error["message"]
    assert not ExportArchive.objects.filter(company=free).exists()


def test_exports_per_day_are_limited_with_when_the_next_is_possible(api, company, settings):
    settings.KEEL_EXPORTS_PER_DAY = 2
    first = start(api)
    start(api)
    response = api.post("exports", {})
    assert response.status_code == 429
    error = response.json()["error"]
    assert error["code"] == "rate_limited"
    assert "2 exports per day" in error["message"] and "next export is possible at" in error["message"]
    created = ExportArchive.objects.get(pk=first["id"]).created_at
    assert error["retry_at"] == (created + timedelta(days=1)).isoformat()
    # A day later the oldest no longer counts.
    ExportArchive.objects.filter(pk=first["id"]).update(created_at=timezone.now() - timedelta(days=1, seconds=1))
    assert api.post("exports", {}).status_code == 202


def test_the_plan_allowance_applies_when_below_the_operator_cap(api, company):
    company.plan.exports_per_day = 1
    company.plan.save()
    start(api)
    assert api.post("exports", {}).status_code == 429


# --- who may ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["manager", "member"])
def test_non_admins_get_403_everywhere(api, company, role):
    export_id = finished_export(api)["id"]
    other = ApiClient(make_user(company, role))
    assert other.post("exports", {}).status_code == 403
    for response in (
        other.get("exports"),
        other.get(f"exports/{export_id}"),
        other.get(f"exports/{export_id}/download"),
        other.delete(f"exports/{export_id}"),
    ):
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "permission_denied"
    assert ExportArchive.objects.get(pk=export_id).status == ExportArchive.Status.READY


def test_an_admin_without_the_export_permission_gets_403(api, company):
    role = company.admin.role
    role.permissions = [p for p in role.permissions if p != "export_company_data"]
    role.save()
    assert api.post("exports", {}).status_code == 403
    assert api.get("exports").status_code == 403


def test_another_companys_export_is_404(api, company, other_api):
    export_id = finished_export(api)["id"]
    assert other_api.get("exports").json() == []
    assert other_api.get(f"exports/{export_id}").status_code == 404
    assert other_api.get(f"exports/{export_id}/download").status_code == 404
    assert other_api.delete(f"exports/{export_id}").status_code == 404
    assert ExportArchive.objects.get(pk=export_id).status == ExportArchive.Status.READY


# --- the job's life -----------------------------------------------------------------------------------------------


def test_export_runs_to_a_downloadable_checksummed_archive(api, company, settings):
    created = start(api)
    assert api.get(f"exports/{created['id']}/download").json()["error"]["code"] == "export_not_ready"
    assert api.get(f"exports/{created['id']}/download").status_code == 409
    run_queued_jobs()
    body = api.get(f"exports/{created['id']}").json()
    assert body["state"] == "succeeded"
    assert body["progress"]["percent"] == 100 and body["progress"]["done"] == body["progress"]["total"] > 0
    assert body["download_url"] == f"/api/v1/exports/{created['id']}/download"
    assert body["row_counts"]["users"] == 1 and body["row_counts"]["roles"] == 3
    archive = ExportArchive.objects.get(pk=created["id"])
    expected_expiry = archive.finished_at + timedelta(hours=settings.KEEL_EXPORT_TTL_HOURS)
    assert archive.expires_at == expected_expiry
    assert archive.file_path.startswith(f"companies/{company.pk}/exports/")
    assert archive.job.result["summary"].startswith("The archive is ready:")

    response = api.get(body["download_url"])
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    disposition = response["Content-Disposition"]
    assert "attachment" in disposition and company.slug in disposition
    assert archive.created_at.strftime("%Y-%m-%d") in disposition
    data = b"".join(response.streaming_content)
    assert len(data) == body["size"] and hashlib.sha256(data).hexdigest() == body["sha256"]
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("manifest.json"))
    assert manifest["company"]["id"] == company.pk
    assert {e["entity"]: e["rows"] for e in manifest["files"] if e["entity"] != "company"} == body["row_counts"]
    assert audit_actions(company).count("export.downloaded") == 1


def test_the_requester_is_notified_when_ready(api, company):
    finished_export(api)
    notice = Notice.objects.get(company=company, user=company.admin, message__contains="export")
    assert notice.link == "/settings/data/export/"
    assert [m.to for m in mail.outbox] == [[company.admin.email]]
    assert "ready" in mail.outbox[0].subject and "/settings/data/export/" in mail.outbox[0].body


def test_list_shows_exports_newest_first(api, company):
    first = finished_export(api)
    second = start(api, ["users"])
    listed = api.get("exports").json()
    assert [e["id"] for e in listed] == [second["id"], first["id"]]
    assert [e["state"] for e in listed] == ["queued", "succeeded"]


def test_no_half_written_file_is_left_or_offered(api, company):
    body = finished_export(api)
    archive = ExportArchive.objects.get(pk=body["id"])
    # Partial archives are written on the worker's disk (inside a local storage's folder, or in the data folder
    # before an upload to a bucket); none is left there, nor in the storage.
    folder = os.path.dirname(export_job._local_path(export_job.partial_storage_name(archive, 0), create=False))
    assert os.listdir(folder) == []
    assert list_folder(f"companies/{company.pk}/exports/partial")[1] == []
    assert body["state"] == "succeeded"


def test_a_crash_leftover_is_replaced_and_never_offered(api, company):
    """A worker killed mid-export leaves a partial file of its attempt; the next attempt removes it."""
    created = start(api)
    archive = ExportArchive.objects.get(pk=created["id"])
    leftover = export_job._local_path(export_job.partial_storage_name(archive, 1))
    with open(leftover, "wb") as handle:
        handle.write(b"PK\x03\x04 half an archive")
    DataJob.objects.filter(pk=archive.job_id).update(attempts=1)  # as if attempt 1 had died
    assert api.get(f"exports/{created['id']}/download").status_code == 409
    run_queued_jobs()
    assert not os.path.exists(leftover)
    body = api.get(f"exports/{created['id']}").json()
    data = b"".join(api.get(body["download_url"]).streaming_content)
    assert hashlib.sha256(data).hexdigest() == body["sha256"]
    assert zipfile.ZipFile(io.BytesIO(data)).testzip() is None


def test_a_failing_export_tells_the_requester_and_keeps_no_file(api, company, storage_backend, request):
    created = start(api)
    if storage_backend == "s3":  # a storage that cannot hold the archive: its bucket is gone
        s3 = request.getfixturevalue("s3_server").client()
        s3.delete_bucket(Bucket=os.environ["KEEL_S3_BUCKET"])
    else:  # a storage that cannot hold the archive: a plain file where the company's exports folder must be
        folder = default_storage.path(f"companies/{company.pk}/exports")
        os.makedirs(os.path.dirname(folder), exist_ok=True)
        with open(folder, "w") as blocker:
            blocker.write("not a folder")
    run_queued_jobs()
    body = api.get(f"exports/{created['id']}").json()
    assert body["state"] == "failed" and body["error"] and body["download_url"] is None
    assert DataJob.objects.get(pk=ExportArchive.objects.get(pk=created["id"]).job_id).attempts == 3
    assert api.get(f"exports/{created['id']}/download").json()["error"]["code"] == "export_failed"
    notice = Notice.objects.filter(company=company, user=company.admin).latest("id")
    assert "failed" in notice.message
    assert any("failed" in m.subject for m in mail.outbox)
    assert "export.failed" in audit_actions(company)
    if storage_backend == "s3":
        s3.create_bucket(Bucket=os.environ["KEEL_S3_BUCKET"])
    else:
        os.remove(folder)
    # A failed export does not use up the day's allowance.
    company.plan.exports_per_day = 1
    company.plan.save()
    assert api.post("exports", {}).status_code == 202


# --- deleting and expiry --------------------------------------------------------------------------------------------


def test_delete_removes_the_file_and_the_entry(api, company):
    body = finished_export(api)
    archive = ExportArchive.objects.get(pk=body["id"])
    assert default_storage.exists(archive.file_path)
    response = api.delete(f"exports/{body['id']}")
    assert response.status_code == 204
    assert not default_storage.exists(archive.file_path)
    assert api.get(f"exports/{body['id']}").status_code == 404
    assert api.get(f"exports/{body['id']}/download").status_code == 404
    assert api.get("exports").json() == []
    assert "export.deleted" in audit_actions(company)


def stored_files(company):
    return list(walk_files(f"companies/{company.pk}"))


def test_deleting_a_queued_export_cancels_it(api, company):
    body = start(api)
    assert api.delete(f"exports/{body['id']}").status_code == 204
    run_queued_jobs()
    archive = ExportArchive.objects.get(pk=body["id"])
    assert archive.status == ExportArchive.Status.DELETED and archive.file_path == ""
    assert archive.job.state == DataJob.State.CANCELLED
    assert stored_files(company) == []


class DeleteMidway(NoProgress):
    """Progress that deletes the export (as an administrator would) while its archive is being written."""

    def __init__(self, admin, archive):
        super().__init__()
        self.admin, self.archive, self.deleted = admin, archive, False

    def set_done(self, done):  # the writer reports rows done after every batch
        if not self.deleted:
            exports.do_delete_export(self.archive, actor=self.admin)
            self.deleted = True


def test_an_export_deleted_while_it_is_written_is_never_published(api, company):
    body = start(api)
    archive = ExportArchive.objects.select_related("job").get(pk=body["id"])
    DataJob.objects.filter(pk=archive.job_id).update(state=DataJob.State.RUNNING, attempts=1)
    job = DataJob.objects.get(pk=archive.job_id)
    progress = DeleteMidway(company.admin, archive)
    export_job.run_export(job, progress)
    assert progress.deleted
    archive.refresh_from_db()
    assert archive.status == ExportArchive.Status.DELETED and archive.file_path == ""
    assert stored_files(company) == []
    assert job.result["status"] == "deleted"


def test_expired_exports_lose_their_file_and_answer_410(api, company):
    assert exports.expire_exports in PERIODIC
    body = finished_export(api)
    archive = ExportArchive.objects.get(pk=body["id"])
    assert exports.expire_exports() == []  # not yet
    ExportArchive.objects.filter(pk=archive.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert exports.expire_exports() == [archive.pk]
    assert not default_storage.exists(archive.file_path)
    listed = api.get("exports").json()
    assert [e["state"] for e in listed] == ["expired"] and listed[0]["download_url"] is None
    response = api.get(f"exports/{archive.pk}/download")
    assert response.status_code == 410 and response.json()["error"]["code"] == "export_expired"
    assert "export.expired" in audit_actions(company)


def test_export_handler_is_registered():
    assert HANDLERS["export"].run is export_job.run_export
    assert HANDLERS["export"].on_failed is export_job.export_failed


# --- the page -------------------------------------------------------------------------------------------------------


def test_page_explains_and_offers_every_scope_ticked(admin_client):
    response = admin_client.get("/settings/data/export/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "What an export contains" in html and "Start export" in html
    for scope in scopes.SCOPES:
        assert re.search(rf'name="scope" value="{scope}" checked', html)


def test_page_starts_an_export_and_lists_it_with_download(admin_client, company):
    response = admin_client.post("/settings/data/export/", {"scope": ["contacts", "users"]}, follow=True)
    assert response.status_code == 200
    archive = ExportArchive.objects.get(company=company)
    assert archive.scope == ["contacts", "users"]
    assert f'id="export-{archive.pk}"' in response.content.decode()
    assert 'id="job-' in response.content.decode()  # the progress bar while it runs
    run_queued_jobs()
    html = admin_client.get("/settings/data/export/").content.decode()
    archive.refresh_from_db()
    assert archive.sha256 in html and "Download" in html and "contacts.csv" in html
    response = admin_client.get(f"/settings/data/export/{archive.pk}/download/")
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert hashlib.sha256(b"".join(response.streaming_content)).hexdigest() == archive.sha256


def test_page_with_nothing_ticked_explains(admin_client, company):
    response = admin_client.post("/settings/data/export/", {}, follow=True)
    assert "Choose at least one kind of data to export." in response.content.decode()
    assert not ExportArchive.objects.filter(company=company).exists()


def test_page_delete(admin_client, company, api):
    body = finished_export(api)
    response = admin_client.post(f"/settings/data/export/{body['id']}/delete/", follow=True)
    assert response.status_code == 200 and "The export was deleted." in response.content.decode()
    assert ExportArchive.objects.get(pk=body["id"]).status == ExportArchive.Status.DELETED


def test_page_on_the_free_plan_says_export_is_not_available(client, db):
    free = make_company("Freebie", plan="free")
    client.force_login(free.admin)
    html = client.get("/settings/data/export/").content.decode()
    assert "Export is not available for your plan" in html and "Standard" in html
    assert "Start export" not in html
    client.post("/settings/data/export/", {"scope": ["contacts"]})
    assert not ExportArchive.objects.filter(company=free).exists()


@pytest.mark.parametrize("role", ["manager", "member"])
def test_page_is_403_for_non_admins_and_the_card_is_hidden(client, company, api, role):
    body = finished_export(api)
    client.force_login(make_user(company, role))
    assert client.get("/settings/data/export/").status_code == 403
    assert client.post("/settings/data/export/", {"scope": ["contacts"]}).status_code == 403
    assert client.get(f"/settings/data/export/{body['id']}/download/").status_code == 403
    assert client.post(f"/settings/data/export/{body['id']}/delete/").status_code == 403
    assert 'href="/settings/data/"' not in client.get("/contacts/").content.decode()


def test_data_management_card_shows_for_admins(admin_client):
    html = admin_client.get("/settings/data/").content.decode()
    assert 'id="export-card"' in html and 'href="/settings/data/export/"' in html


def test_page_urls_of_another_companys_export_are_404(client, api, other_company):
    body = finished_export(api)
    client.force_login(other_company.admin)
    assert client.get(f"/settings/data/export/{body['id']}/download/").status_code == 404
    assert client.post(f"/settings/data/export/{body['id']}/delete/").status_code == 404
    assert f'id="export-{body["id"]}"' not in client.get("/settings/data/export/").content.decode()


def test_company_row_is_exported_even_for_a_single_scope(api, company):
    body = finished_export(api, ["audit_log"])
    data = b"".join(api.get(body["download_url"]).streaming_content)
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert sorted(names) == ["README.txt", "audit_events.csv", "company.csv", "manifest.json"]
    assert Company.objects.filter(pk=company.pk).exists()
