"""Exports in real processes: a worker killed mid-export, the command line, and the browser."""

import hashlib
import io
import json
import os
import re
import signal
import zipfile

import pytest
from django.core.files.base import ContentFile
from django.core.management import CommandError, call_command
from playwright.sync_api import expect

from keel.audit.models import AuditEvent
from keel.contacts.models import Attachment, Contact, ContactEvent
from keel.datacontrol.export import job as export_job
from keel.datacontrol.export.actions import do_start_export
from keel.datacontrol.export.tests.factories import read_csv
from keel.datacontrol.models import ExportArchive
from keel.jobs.models import DataJob
from keel.testing import PASSWORD, fill_every_tenant_table, start_worker, stop_process, wait_for


def storage_location(settings):
    return settings.STORAGES["default"]["OPTIONS"].get("location", "")


def many_contacts(company, contacts, events_per_contact):
    made = Contact.objects.bulk_create(
        Contact(company=company, first_name=f"Person {i}", email=f"p{i}@example.com") for i in range(contacts)
    )
    ContactEvent.objects.bulk_create(
        ContactEvent(company=company, contact=c, kind="created", title=f"event {k}")
        for c in made
        for k in range(events_per_contact)
    )


def check_complete(archive_row, company):
    """The published archive is whole: its checksum, every file's checksum and every count match."""
    assert archive_row.file_path
    with export_job.default_storage.open(archive_row.file_path, "rb") as handle:
        data = handle.read()
    assert hashlib.sha256(data).hexdigest() == archive_row.sha256 and len(data) == archive_row.size
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.testzip() is None
    manifest = json.loads(archive.read("manifest.json"))
    for entry in manifest["files"]:
        assert hashlib.sha256(archive.read(entry["path"])).hexdigest() == entry["sha256"]
        assert len(read_csv(archive, entry["path"])) == entry["rows"]
    assert manifest["files"][0]["path"] == "company.csv"
    counts = {e["entity"]: e["rows"] for e in manifest["files"]}
    assert counts["contacts"] == Contact.objects.filter(company=company).count()
    assert counts["contact_events"] == ContactEvent.objects.filter(company=company).count()
    return manifest


def test_a_worker_killed_mid_export_is_replaced_and_the_archive_is_complete(transactional_db, company, settings):
    many_contacts(company, 4000, 5)
    # A large attachment (incompressible) keeps the export busy long enough to be caught in the middle.
    big = Attachment.objects.create(
        company=company,
        contact=Contact.objects.filter(company=company).first(),
        file=ContentFile(os.urandom(48 * 1024 * 1024), name="big.bin"),
        filename="big.bin",
    )
    archive = do_start_export(company, actor=company.admin)
    files = storage_location(settings)
    # Where the worker writes its partial archive: inside a local storage, or in the data folder before an upload.
    partial = export_job._local_path(export_job.partial_storage_name(archive, 1), create=False)

    first = start_worker({"KEEL_FILES_DIR": files, "KEEL_BATCH_SIZE": "1"})
    try:
        wait_for(lambda: os.path.exists(partial), interval=0.005, what="the export to be under way")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        stop_process(first)
    archive.refresh_from_db()
    assert archive.status == ExportArchive.Status.PENDING, "the worker must die before the export is done"
    assert os.path.exists(partial), "the killed attempt leaves its half-written file behind"
    assert not archive.file_path

    second = start_worker({"KEEL_FILES_DIR": files, "KEEL_JOB_LEASE_SECONDS": "2"})
    try:
        wait_for(
            lambda: ExportArchive.objects.filter(pk=archive.pk, status=ExportArchive.Status.READY).exists(),
            timeout=120,
            interval=0.005,
            what="the reaper to restart the export and the new worker to finish it",
        )
    finally:
        stop_process(second)
    archive.refresh_from_db()
    job = DataJob.objects.get(pk=archive.job_id)
    assert job.state == DataJob.State.SUCCEEDED and job.attempts == 2
    assert not os.path.exists(partial)
    assert os.listdir(os.path.dirname(partial)) == []
    manifest = check_complete(archive, company)
    index = next(entry for entry in manifest["files"] if entry["path"] == "attachments/index.csv")
    assert index["rows"] == 1
    with export_job.default_storage.open(archive.file_path, "rb") as stored, big.file.open("rb") as original:
        assert zipfile.ZipFile(stored).read(f"attachments/{big.pk}/big.bin") == original.read()


# --- the command line -----------------------------------------------------------------------------------------------


def test_command_line_export_writes_the_same_archive(transactional_db, company, tmp_path, capsys):
    fill_every_tenant_table(company)
    out = tmp_path / "acme.zip"
    call_command("export", "--company", company.slug, "--out", str(out))
    captured = capsys.readouterr()
    assert "100.0%" in captured.err  # the progress bar reached the end
    data = out.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    assert f"SHA-256 {sha}" in captured.out and "contacts.csv: 7 rows" in captured.out
    archive = zipfile.ZipFile(io.BytesIO(data))
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["company"]["slug"] == company.slug and len(manifest["scope"]) == 6
    assert not os.path.exists(f"{out}.partial")
    assert AuditEvent.objects.filter(company=company, action="export.command_line").exists()


def test_command_line_scope_and_refusals(transactional_db, company, tmp_path, capsys):
    out = tmp_path / "users.zip"
    call_command("export", "--company", company.slug, "--scope", "users,audit_log", "--out", str(out), "--no-progress")
    names = zipfile.ZipFile(out).namelist()
    assert "users.csv" in names and "audit_events.csv" in names and "contacts.csv" not in names
    with pytest.raises(CommandError, match="already exists"):
        call_command("export", "--company", company.slug, "--out", str(out))
    with pytest.raises(CommandError, match="Unknown scope deals"):
        call_command("export", "--company", company.slug, "--scope", "deals", "--out", str(tmp_path / "x.zip"))
    with pytest.raises(CommandError, match="No company has the slug"):
        call_command("export", "--company", "nobody", "--out", str(tmp_path / "y.zip"))
    assert not (tmp_path / "x.zip").exists() and not (tmp_path / "y.zip").exists()


# --- the browser ---------------------------------------------------------------------------------------------------


@pytest.mark.browser
def test_start_watch_download_and_open_an_export_in_the_browser(page, company, settings, tmp_path):
    fill_every_tenant_table(company)
    earlier = list(ExportArchive.objects.filter(company=company).values_list("pk", flat=True))  # a finished one
    assert earlier
    page.goto("/login/")
    page.fill('input[name="username"]', company.admin.email)
    page.fill('input[name="password"]', PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/contacts/$"))

    page.get_by_text("Admin Settings").click()
    page.get_by_role("link", name="Data Management").click()
    page.locator("#export-card").get_by_role("link", name="Export Data").click()
    expect(page.get_by_role("heading", name="Export Data")).to_be_visible()
    expect(page.locator('input[name="scope"]')).to_have_count(6)
    page.get_by_role("button", name="Start export").click()

    # No worker yet: the export waits at the top of the history (newest first) with its progress bar.
    row = page.locator("#export-history tbody tr").first
    progress = row.locator(".job-progress")
    expect(progress).to_be_visible()
    expect(progress).to_contain_text("0 %")

    worker = start_worker({"KEEL_FILES_DIR": storage_location(settings)})
    try:
        # The bar follows the job and the page shows the finished archive when it ends.
        download_link = row.get_by_role("link", name="Download")
        expect(download_link).to_be_visible(timeout=60000)
        archive = ExportArchive.objects.filter(company=company).exclude(pk__in=earlier).get()
        expect(page.locator("#export-history")).to_contain_text(archive.sha256)
        with page.expect_download() as info:
            download_link.click()
        download = info.value
        assert company.slug in download.suggested_filename
        target = tmp_path / download.suggested_filename
        download.save_as(target)
    finally:
        stop_process(worker)

    data = target.read_bytes()
    assert hashlib.sha256(data).hexdigest() == archive.sha256
    zipped = zipfile.ZipFile(io.BytesIO(data))
    manifest = json.loads(zipped.read("manifest.json"))
    assert manifest["format"] == "keel-export" and manifest["company"]["name"] == company.name
    contacts = read_csv(zipped, "contacts.csv")
    assert len(contacts) == Contact.objects.filter(company=company).count() == 7
