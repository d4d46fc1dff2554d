"""/api/v1/exports/schedule and encrypted exports: setting, reading, refusing, running, and who may."""

import hashlib
import io
import zipfile

import pyrage
import pytest

from keel.audit.models import AuditEvent
from keel.datacontrol.export.scopes import SCOPES
from keel.datacontrol.models import BackupSchedule, ExportArchive
from keel.integrations import crypto
from keel.testing import ApiClient, make_company, run_queued_jobs

pytestmark = pytest.mark.usefixtures("transactional_db")

IDENTITY = pyrage.x25519.Identity.generate()
RECIPIENT = str(IDENTITY.to_public())
PASSPHRASE = "correct horse battery staple"


def weekly(**changes):
    body = {
        "enabled": True,
        "frequency": "weekly",
        "weekday": 2,
        "hour_utc": 3,
        "scope": ["contacts", "users"],
        "keep": 3,
        "encryption": {"mode": "recipients", "recipients": [RECIPIENT]},
        "destination": {"kind": "keel"},
    }
    body.update(changes)
    return body


def assert_error(response, status, code, field=None):
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code, error
    if field:
        assert error["field"] == field, error


def test_a_company_that_never_set_a_schedule_reads_it_disabled_with_the_defaults(api):
    body = api.get("exports/schedule").json()
    assert body["enabled"] is False and body["next_run_at"] is None and body["last_runs"] == []
    assert body["frequency"] == "weekly" and body["keep"] == 4 and body["scope"] == list(SCOPES)
    assert body["encryption"] == {"mode": "none", "recipients": []}
    assert body["destination"]["kind"] == "keel"


def test_put_sets_the_schedule_and_get_answers_it_with_its_next_run(api, company):
    response = api.put("exports/schedule", weekly())
    assert response.status_code == 200, response.content
    body = api.get("exports/schedule").json()
    assert body["enabled"] is True and body["weekday"] == 2 and body["hour_utc"] == 3 and body["keep"] == 3
    assert body["scope"] == ["contacts", "users"]
    assert body["encryption"] == {"mode": "recipients", "recipients": [RECIPIENT]}
    assert body["next_run_at"].endswith(("T03:00:00Z", "T03:00:00+00:00"))
    schedule = BackupSchedule.objects.get(company=company)
    assert schedule.next_run_at.weekday() == 2 and schedule.updated_by == company.admin
    event = AuditEvent.objects.get(company=company, action="backup.schedule_set")
    assert event.metadata["frequency"] == "weekly" and event.metadata["encryption"] == "recipients"


def test_secrets_are_write_only_stored_encrypted_and_kept_when_left_out(api, company, settings):
    settings.KEEL_BACKUP_ENDPOINT_ALLOWLIST = ["s3.internal.example"]
    destination = {
        "kind": "s3",
        "endpoint_url": "https://s3.internal.example",
        "bucket": "company-backups",
        "prefix": "keel/",
        "access_key_id": "AKIAKEEL",
        "secret_access_key": "the-very-secret-key",
    }
    body = weekly(encryption={"mode": "passphrase", "passphrase": PASSPHRASE}, destination=destination)
    answer = api.put("exports/schedule", body)
    assert answer.status_code == 200, answer.content
    assert "the-very-secret-key" not in answer.content.decode() and PASSPHRASE not in answer.content.decode()
    assert answer.json()["has_passphrase"] and answer.json()["has_secret_access_key"]
    assert answer.json()["destination"]["prefix"] == "keel"
    schedule = BackupSchedule.objects.get(company=company)
    assert crypto.decrypt(schedule.encrypted_secret_access_key) == "the-very-secret-key"
    assert crypto.decrypt(schedule.encrypted_passphrase) == PASSPHRASE
    # Saved again without the secrets: both are kept.
    del destination["secret_access_key"]
    again = api.put("exports/schedule", weekly(encryption={"mode": "passphrase"}, destination=destination))
    assert again.status_code == 200, again.content
    schedule.refresh_from_db()
    assert crypto.decrypt(schedule.encrypted_secret_access_key) == "the-very-secret-key"
    assert crypto.decrypt(schedule.encrypted_passphrase) == PASSPHRASE
    # Another access key needs its own secret.
    other_key = {**destination, "access_key_id": "AKIAOTHER"}
    assert_error(
        api.put("exports/schedule", weekly(destination=other_key)),
        422,
        "invalid_destination",
        "destination.secret_access_key",
    )
    audit = AuditEvent.objects.filter(company=company).values_list("metadata", flat=True)
    assert not any("the-very-secret-key" in str(m) or PASSPHRASE in str(m) for m in audit)


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"hour_utc": 24}, "invalid_schedule", "hour_utc"),
        ({"frequency": "hourly"}, "invalid_schedule", "frequency"),
        ({"weekday": 7}, "invalid_schedule", "weekday"),
        ({"day_of_month": 0}, "invalid_schedule", "day_of_month"),
        ({"keep": 0}, "invalid_schedule", "keep"),
        ({"scope": ["contacts", "diaries"]}, "invalid_input", "scope"),
        ({"encryption": {"mode": "recipients", "recipients": ["age1notakey"]}}, "invalid_recipient", None),
        ({"encryption": {"mode": "recipients", "recipients": []}}, "invalid_recipient", None),
        ({"encryption": {"mode": "passphrase", "passphrase": "short"}}, "invalid_passphrase", None),
        ({"encryption": {"mode": "rot13"}}, "invalid_input", "encryption.mode"),
        ({"destination": {"kind": "ftp"}}, "invalid_destination", "destination.kind"),
    ],
)
def test_an_invalid_value_is_422_naming_the_field_and_changes_nothing(api, company, change, code, field):
    assert_error(api.put("exports/schedule", weekly(**change)), 422, code, field)
    assert not BackupSchedule.objects.filter(company=company).exists()


@pytest.mark.parametrize(
    "endpoint",
    ["https://127.0.0.1:9000", "https://10.1.2.3", "https://169.254.169.254", "https://[::1]", "http://s3.example.com"],
)
def test_an_internal_or_plain_http_endpoint_is_refused(api, company, endpoint):
    destination = {"kind": "s3", "endpoint_url": endpoint, "bucket": "b-1", "access_key_id": "a"}
    destination["secret_access_key"] = "s"
    response = api.put("exports/schedule", weekly(destination=destination))
    assert_error(response, 422, "destination_not_allowed", "destination.endpoint_url")
    assert "KEEL_BACKUP_ENDPOINT_ALLOWLIST" in response.json()["error"]["message"]
    test = api.post("exports/schedule/test-destination", {"destination": destination})
    assert_error(test, 422, "destination_not_allowed")


def test_the_free_plan_cannot_schedule_backups(db):
    free = make_company("Freebie", plan="free")
    free_api = ApiClient(free.admin)
    assert_error(free_api.put("exports/schedule", weekly()), 403, "plan_not_eligible")
    destination = {"kind": "s3", "endpoint_url": "https://s3.example.com", "bucket": "b-1", "access_key_id": "a"}
    tested = free_api.post("exports/schedule/test-destination", {"destination": destination})
    assert_error(tested, 403, "plan_not_eligible")  # and no outbound call is made
    assert not BackupSchedule.objects.filter(company=free).exists()


def test_a_lower_role_is_refused_and_another_company_sees_only_its_own_schedule(api, member_api, other_api):
    assert api.put("exports/schedule", weekly()).status_code == 200
    for method, path in (
        ("get", "exports/schedule"),
        ("put", "exports/schedule"),
        ("delete", "exports/schedule"),
        ("post", "exports/schedule/run"),
        ("post", "exports/schedule/test-destination"),
    ):
        args = (path, weekly()) if method == "put" else (path,)
        assert_error(getattr(member_api, method)(*args), 403, "permission_denied")
    theirs = other_api.get("exports/schedule").json()
    assert theirs["enabled"] is False and theirs["encryption"]["mode"] == "none"
    assert_error(other_api.post("exports/schedule/run"), 409, "no_backup_schedule")


def test_run_now_starts_a_scheduled_export_and_delete_turns_the_schedule_off(api, company):
    assert_error(api.post("exports/schedule/run"), 409, "no_backup_schedule")
    api.put("exports/schedule", weekly(encryption={"mode": "none"}))
    response = api.post("exports/schedule/run")
    assert response.status_code == 202, response.content
    started = response.json()
    assert started["scheduled"] is True and started["encrypted"] is False and started["delivered_to"] is None
    run_queued_jobs()
    runs = api.get("exports/schedule").json()["last_runs"]
    assert [run["id"] for run in runs] == [started["id"]] and runs[0]["state"] == "succeeded"
    archive = ExportArchive.objects.get(pk=started["id"])
    assert archive.expires_at is None  # kept in Keel until the schedule's retention replaces it
    assert AuditEvent.objects.filter(company=company, action="backup.run_now").exists()
    assert api.delete("exports/schedule").status_code == 204
    assert api.get("exports/schedule").json()["enabled"] is False
    assert api.get(f"exports/{started['id']}").json()["state"] == "succeeded"  # the archive made stays


# --- encrypted manual exports ---------------------------------------------------------------------------------------


def _download(api, export):
    response = api.get(export["download_url"])
    assert response.status_code == 200
    return response, b"".join(response.streaming_content)


def test_an_export_for_recipients_downloads_as_zip_age_and_decrypts_to_the_checksummed_zip(api):
    started = api.post("exports", {"encryption": {"mode": "recipients", "recipients": [RECIPIENT]}})
    assert started.status_code == 202, started.content
    run_queued_jobs()
    export = api.get(f"exports/{started.json()['id']}").json()
    assert export["encrypted"] is True and export["encryption"]["recipients"] == [RECIPIENT]
    response, data = _download(api, export)
    assert response["Content-Disposition"].endswith('.zip.age"')
    assert data.startswith(b"age-encryption.org/v1")
    assert hashlib.sha256(data).hexdigest() == export["encrypted_sha256"] and len(data) == export["encrypted_size"]
    plain = pyrage.decrypt(data, [IDENTITY])
    assert hashlib.sha256(plain).hexdigest() == export["sha256"] and len(plain) == export["size"]
    assert "manifest.json" in zipfile.ZipFile(io.BytesIO(plain)).namelist()


def test_an_export_with_a_passphrase_decrypts_with_it_and_keel_forgets_it(api):
    started = api.post("exports", {"encryption": {"mode": "passphrase", "passphrase": PASSPHRASE}}).json()
    assert ExportArchive.objects.get(pk=started["id"]).encrypted_passphrase  # held encrypted until written
    run_queued_jobs()
    export = api.get(f"exports/{started['id']}").json()
    _, data = _download(api, export)
    plain = pyrage.passphrase.decrypt(data, PASSPHRASE)
    assert zipfile.ZipFile(io.BytesIO(plain)).testzip() is None
    assert ExportArchive.objects.get(pk=started["id"]).encrypted_passphrase == ""


def test_an_invalid_encryption_of_an_export_is_422_and_starts_nothing(api, company):
    bad = api.post("exports", {"encryption": {"mode": "recipients", "recipients": ["ssh-rsa AAAA"]}})
    assert_error(bad, 422, "invalid_recipient", "encryption.recipients")
    assert_error(api.post("exports", {"encryption": {"mode": "passphrase"}}), 422, "invalid_passphrase")
    assert not ExportArchive.objects.filter(company=company).exists()
