"""The Scheduled backups page, the Export Data page's encryption choice, and ``keel decrypt``."""

import io
import os

import pyrage
import pytest
from django.core.management import CommandError, call_command

from keel.datacontrol.models import BackupSchedule, ExportArchive
from keel.testing import PASSWORD, make_company, run_queued_jobs

pytestmark = pytest.mark.usefixtures("transactional_db")

IDENTITY = pyrage.x25519.Identity.generate()


def form(**changes):
    data = {
        "enabled": "on",
        "frequency": "monthly",
        "weekday": "0",
        "day_of_month": "31",
        "hour_utc": "4",
        "keep": "6",
        "scope": ["contacts", "audit_log"],
        "encryption_mode": "recipients",
        "recipients": f"{IDENTITY.to_public()}\n",
        "destination_kind": "keel",
        "action": "save",
    }
    data.update(changes)
    return data


def test_an_admin_sets_the_schedule_on_the_page_and_sees_its_next_run(admin_client, company):
    page = admin_client.get("/settings/data/export/schedule/")
    assert page.status_code == 200 and b"Set a schedule" in page.content
    saved = admin_client.post("/settings/data/export/schedule/", form(), follow=True)
    assert b"The backup schedule is saved." in saved.content
    assert b"Every month on the 31st (the last day of shorter months) at 04:00 UTC" in saved.content
    schedule = BackupSchedule.objects.get(company=company)
    assert schedule.keep == 6 and schedule.scope == ["contacts", "audit_log"] and schedule.next_run_at.day >= 28


def test_an_invalid_form_says_what_is_wrong_and_keeps_what_was_typed(admin_client, company):
    page = admin_client.post("/settings/data/export/schedule/", form(recipients="not-a-key", keep="6"))
    assert page.status_code == 422
    assert "is not an age public key" in page.content.decode() and 'value="6"' in page.content.decode()
    assert not BackupSchedule.objects.filter(company=company).exists()


def test_run_now_from_the_page_leads_to_the_new_row_of_the_export_history(admin_client, company):
    admin_client.post("/settings/data/export/schedule/", form())
    started = admin_client.post("/settings/data/export/schedule/run/")
    archive = ExportArchive.objects.get(company=company, scheduled=True)
    assert started.status_code == 302 and started["Location"].endswith(f"#export-{archive.pk}")
    run_queued_jobs()
    history = admin_client.get("/settings/data/export/").content.decode()
    assert "Scheduled backup" in history and "Encrypted (age)" in history


def test_lower_roles_and_other_companies_cannot_reach_the_page(client, company, member, other_company):
    client.login(username=member.email, password=PASSWORD)
    for url in ("/settings/data/export/schedule/", "/settings/data/export/schedule/run/"):
        response = client.get(url) if url.endswith("schedule/") else client.post(url)
        assert response.status_code == 403
    client.login(username=other_company.admin.email, password=PASSWORD)
    BackupSchedule.objects.create(company=company, scope=["contacts"], bucket="acme-only")
    assert b"acme-only" not in client.get("/settings/data/export/schedule/").content


def test_the_export_page_encrypts_a_manual_export_for_a_public_key(admin_client, company):
    admin_client.post(
        "/settings/data/export/",
        {"scope": ["contacts"], "encryption_mode": "recipients", "recipients": str(IDENTITY.to_public())},
    )
    archive = ExportArchive.objects.get(company=company)
    assert archive.encryption_recipients == [str(IDENTITY.to_public())]
    refused = admin_client.post(
        "/settings/data/export/",
        {"scope": ["contacts"], "encryption_mode": "passphrase", "passphrase": "short"},
        follow=True,
    )
    assert "at least 12 characters" in refused.content.decode() and ExportArchive.objects.count() == 1


def test_keel_decrypt_writes_the_zip_with_an_identity_or_a_passphrase(tmp_path):
    plain = b"PK\x03\x04 a zip, as far as this test cares"
    encrypted = tmp_path / "keel-export.zip.age"
    encrypted.write_bytes(pyrage.encrypt(plain, [IDENTITY.to_public()]))
    identity_file = tmp_path / "key.txt"
    identity_file.write_text(str(IDENTITY))
    out = io.StringIO()
    call_command("decrypt", str(encrypted), identity_file=str(identity_file), stdout=out)
    assert (tmp_path / "keel-export.zip").read_bytes() == plain and "Decrypted to" in out.getvalue()
    with pytest.raises(CommandError, match="already exists"):
        call_command("decrypt", str(encrypted), identity_file=str(identity_file))
    by_passphrase = tmp_path / "p.zip.age"
    by_passphrase.write_bytes(pyrage.passphrase.encrypt(plain, "a passphrase of ours"))
    secret_file = tmp_path / "passphrase.txt"
    secret_file.write_text("a wrong passphrase")
    with pytest.raises(CommandError, match="does not decrypt"):
        call_command("decrypt", str(by_passphrase), passphrase_file=str(secret_file))
    assert not os.path.exists(tmp_path / "p.zip")
    secret_file.write_text("a passphrase of ours")
    call_command("decrypt", str(by_passphrase), passphrase_file=str(secret_file))
    assert (tmp_path / "p.zip").read_bytes() == plain


def test_the_free_plan_page_explains_instead_of_offering_the_form(client, db):
    free = make_company("Freebie", plan="free")
    client.login(username=free.admin.email, password=PASSWORD)
    page = client.get("/settings/data/export/schedule/").content.decode()
    assert "not available for your plan" in page and 'id="backup-form"' not in page
