"""Archives encrypted with age restore with their passphrase or identity, which is used for that alone and kept
nowhere; without it, or with a wrong one, they are refused with a clear error."""

import subprocess
import sys

import pyrage
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from keel.audit.models import AuditEvent
from keel.contacts.models import Contact
from keel.datacontrol.restore.tests.archives import export_bytes
from keel.jobs.models import DataJob
from keel.testing import ApiClient, fill_every_tenant_table, make_company, run_queued_jobs

pytestmark = pytest.mark.django_db(transaction=True)
PASSPHRASE = "correct horse battery staple, for the backup"


@pytest.fixture
def plain(company):
    fill_every_tenant_table(company, contacts=3)
    return export_bytes(company)


@pytest.fixture
def target():
    return make_company("Phoenix")


def upload(data):
    return {"file": SimpleUploadedFile("keel-export-acme.zip.age", data)}


def test_an_archive_encrypted_to_a_recipient_restores_with_its_identity(plain, target):
    identity = pyrage.x25519.Identity.generate()
    encrypted = pyrage.encrypt(plain, [identity.to_public()])
    response = ApiClient(target.admin).upload("restores", upload(encrypted), {"identity": str(identity)})
    assert response.status_code == 202, response.content
    [job] = run_queued_jobs()
    assert job.state == DataJob.State.SUCCEEDED, job.error
    assert Contact.objects.filter(company=target).count() == 3
    assert str(identity) not in str(job.params)


def test_an_archive_encrypted_with_a_passphrase_restores_with_it_and_keeps_it_nowhere(plain, target):
    encrypted = pyrage.passphrase.encrypt(plain, PASSPHRASE)
    response = ApiClient(target.admin).upload("restores", upload(encrypted), {"passphrase": PASSPHRASE})
    assert response.status_code == 202, response.content
    [job] = run_queued_jobs()
    assert job.state == DataJob.State.SUCCEEDED, job.error
    assert PASSPHRASE not in str(job.params) and PASSPHRASE not in str(job.result)
    assert not any(PASSPHRASE in str(e.metadata) for e in AuditEvent.objects.filter(company=target))


def test_an_encrypted_archive_without_its_secret_or_with_a_wrong_one_is_refused(plain, target):
    api = ApiClient(target.admin)
    encrypted = pyrage.passphrase.encrypt(plain, PASSPHRASE)
    missing = api.upload("restores", upload(encrypted))
    assert missing.status_code == 422 and missing.json()["error"]["code"] == "archive_encrypted"
    wrong = api.upload("restores", upload(encrypted), {"passphrase": "not it"})
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "decryption_failed"
    not_a_key = api.upload("restores", upload(encrypted), {"identity": "AGE-SECRET-KEY-nonsense"})
    assert not_a_key.status_code == 422 and not_a_key.json()["error"]["field"] == "identity"
    assert not DataJob.objects.filter(company=target, kind=DataJob.Kind.RESTORE).exists()


def test_verify_archive_reads_an_encrypted_archive_with_a_passphrase_file(plain, tmp_path):
    archive = tmp_path / "backup.zip.age"
    archive.write_bytes(pyrage.passphrase.encrypt(plain, PASSPHRASE))
    secret = tmp_path / "passphrase"
    secret.write_text(PASSPHRASE + "\n")
    ok = subprocess.run(
        [sys.executable, "-m", "keel.cli", "verify-archive", str(archive), "--passphrase-file", str(secret)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0, ok.stderr
    assert "Intact" in ok.stdout
    refused = subprocess.run(
        [sys.executable, "-m", "keel.cli", "verify-archive", str(archive)], capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 1 and "encrypted" in refused.stderr
