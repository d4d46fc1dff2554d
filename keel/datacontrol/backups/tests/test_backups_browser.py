"""Scheduled backups in a real browser, with a real worker and an S3-protocol server on loopback: set a weekly
encrypted schedule delivered to a bucket, test the connection, Run now, and see the delivered archive."""

import pyrage
import pytest
from playwright.sync_api import expect

from keel.datacontrol.models import BackupSchedule, ExportArchive
from keel.testing import start_worker, stop_process
from keel.tests.browser import log_in

IDENTITY = pyrage.x25519.Identity.generate()


@pytest.mark.browser
def test_set_a_weekly_encrypted_schedule_run_it_now_and_see_it_delivered(page, company, settings, s3_server):
    host_port = s3_server.endpoint_url.split("//", 1)[1]
    settings.KEEL_BACKUP_ENDPOINT_ALLOWLIST = [host_port]
    bucket = s3_server.new_bucket()
    log_in(page, company.admin)
    page.goto("/settings/data/export/")
    page.get_by_role("link", name="Set up scheduled backups").click()
    expect(page.get_by_role("heading", name="Scheduled backups")).to_be_visible()

    page.select_option("#id_frequency", "weekly")
    page.select_option("#id_weekday", label="Wednesday")
    page.select_option("#id_hour_utc", label="03:00")
    page.check('input[name="encryption_mode"][value="recipients"]')
    page.fill("#id_recipients", str(IDENTITY.to_public()))
    page.check('input[name="destination_kind"][value="s3"]')
    page.fill("#id_endpoint_url", s3_server.endpoint_url)
    page.fill("#id_bucket", bucket)
    page.fill("#id_prefix", "keel")
    page.fill("#id_access_key_id", "keel-test-key")
    page.fill("#id_secret_access_key", "keel-test-secret")
    page.get_by_role("button", name="Test connection").click()
    expect(page.get_by_text("Connection works")).to_be_visible()
    # A wrong bucket is named in the answer, and nothing is saved.
    page.fill("#id_bucket", "no-such-bucket")
    page.fill("#id_secret_access_key", "keel-test-secret")
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#backup-error")).to_contain_text("“no-such-bucket” does not exist")
    assert not BackupSchedule.objects.filter(company=company).exists()

    page.fill("#id_bucket", bucket)
    page.fill("#id_secret_access_key", "keel-test-secret")
    page.get_by_role("button", name="Save schedule").click()
    expect(page.get_by_text("The backup schedule is saved.")).to_be_visible()
    expect(page.locator("#backup-status")).to_contain_text("Every Wednesday at 03:00 UTC")
    expect(page.locator("#backup-next-run")).to_contain_text("03:00 UTC")
    expect(page.locator("#id_secret_access_key")).to_have_value("")  # never shown again

    page.get_by_role("button", name="Run now").click()
    expect(page.get_by_role("heading", name="Export Data")).to_be_visible()
    row = page.locator("#export-history tbody tr").first
    expect(row).to_contain_text("Scheduled backup")
    expect(row).to_contain_text("Encrypted (age)")
    worker = start_worker(
        {
            "KEEL_FILES_DIR": settings.STORAGES["default"]["OPTIONS"].get("location", ""),
            "KEEL_BACKUP_ENDPOINT_ALLOWLIST": host_port,
        }
    )
    try:
        expect(row.locator(".export-delivered-to")).to_contain_text(f"s3://{bucket}/keel/", timeout=60000)
    finally:
        stop_process(worker)
    archive = ExportArchive.objects.get(company=company, scheduled=True)
    key = archive.delivered_to.removeprefix(f"s3://{bucket}/")
    data = s3_server.client().get_object(Bucket=bucket, Key=key)["Body"].read()
    assert pyrage.decrypt(data, [IDENTITY])[:2] == b"PK"

    page.goto("/settings/data/export/schedule/")
    expect(page.locator("#backup-runs")).to_contain_text(archive.delivered_to)
