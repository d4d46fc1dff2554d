"""Scheduled backups in the worker: one run per period, catch-up once, retention, a schedule that outlives its
author, notices of failure to every administrator, and delivery to a real S3-protocol server on loopback."""

import io
import logging
import socket
import time
from datetime import timedelta
from types import SimpleNamespace

import boto3
import pyrage
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from keel.accounts.models import Company, Notice, Plan
from keel.audit.models import AuditEvent
from keel.contacts.models import Contact
from keel.datacontrol.backups import actions as backups
from keel.datacontrol.backups import destination as destinations
from keel.datacontrol.backups import job as backup_job
from keel.datacontrol.models import BackupSchedule, ExportArchive
from keel.jobs.models import DataJob
from keel.jobs.runner import run_job
from keel.outbound import OutboundFailed
from keel.outbound_s3 import guarded_s3_client, pin
from keel.testing import ApiClient, make_company, make_user, run_queued_jobs

pytestmark = pytest.mark.usefixtures("transactional_db")

IDENTITY = pyrage.x25519.Identity.generate()
SECRET = "keel-test-secret"


@pytest.fixture
def bucket(s3_server, settings):
    host_port = s3_server.endpoint_url.split("//", 1)[1]
    settings.KEEL_BACKUP_ENDPOINT_ALLOWLIST = [host_port]
    return SimpleNamespace(server=s3_server, name=s3_server.new_bucket(), endpoint=s3_server.endpoint_url)


def s3(server, **changes):
    destination = {
        "kind": "s3",
        "endpoint_url": server.endpoint,
        "region": "us-east-1",
        "bucket": server.name,
        "prefix": "backups",
        "access_key_id": "keel-test-key",
        "secret_access_key": SECRET,
    }
    return {**destination, **changes}


def set_schedule(company, destination=None, keep=4, encryption=None, actor=None):
    data = {
        "frequency": "weekly",
        "weekday": 0,
        "hour_utc": 2,
        "keep": keep,
        "encryption": encryption or {"mode": "recipients", "recipients": [str(IDENTITY.to_public())]},
        "destination": destination or {"kind": "keel"},
    }
    return backups.do_set_backup_schedule(company, data, actor=actor or company.admin)


def due(company, when):
    BackupSchedule.objects.filter(company=company).update(next_run_at=when)


def objects(bucket):
    listed = bucket.server.client().list_objects_v2(Bucket=bucket.name).get("Contents", [])
    return {item["Key"]: item["Size"] for item in listed}


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- when runs happen -----------------------------------------------------------------------------------------------


def test_one_run_per_period_however_often_the_worker_looks(company):
    set_schedule(company)
    now = timezone.now()
    due(company, now - timedelta(minutes=1))
    assert len(backup_job.run_due_backups(now)) == 1
    assert backup_job.run_due_backups(now) == [] and backup_job.run_due_backups(now + timedelta(seconds=5)) == []
    assert ExportArchive.objects.filter(company=company, scheduled=True).count() == 1
    assert BackupSchedule.objects.get(company=company).next_run_at > now


def test_a_worker_holding_a_stale_schedule_does_not_run_the_period_again(company):
    set_schedule(company)
    now = timezone.now()
    due(company, now - timedelta(minutes=1))
    stale = BackupSchedule.objects.select_related("company__plan").get(company=company)  # what a second worker read
    assert backup_job._run_due(BackupSchedule.objects.select_related("company__plan").get(pk=stale.pk), now)
    assert backup_job._run_due(stale, now) is None
    period = ExportArchive.objects.get(company=company).scheduled_for
    with pytest.raises(IntegrityError), transaction.atomic():  # and the database refuses a second run of a period
        ExportArchive.objects.create(
            company=company,
            job=DataJob.objects.create(company=company, kind="export"),
            scheduled=True,
            scheduled_for=period,
        )


@pytest.mark.postgres
def test_two_workers_racing_make_one_run(company):
    import threading

    set_schedule(company)
    now = timezone.now()
    due(company, now - timedelta(minutes=1))
    barrier, results = threading.Barrier(2), []

    def worker():
        from django.db import connection

        barrier.wait()
        try:
            results.append(len(backup_job.run_due_backups(now)))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [0, 1]
    assert ExportArchive.objects.filter(company=company, scheduled=True).count() == 1


def test_after_downtime_the_missed_periods_make_one_run(company):
    set_schedule(company)
    now = timezone.now()
    first_missed = BackupSchedule.objects.get(company=company).next_run_at - timedelta(weeks=4)
    due(company, first_missed)
    [archive] = backup_job.run_due_backups(now)
    assert now - timedelta(weeks=1) < archive.scheduled_for <= now  # the latest missed period
    assert backup_job.run_due_backups(now) == []
    assert BackupSchedule.objects.get(company=company).next_run_at > now


def test_the_schedule_keeps_working_when_the_admin_who_set_it_is_deactivated(company):
    author = make_user(company, "admin")
    set_schedule(company, actor=author)
    author.is_active = False
    author.save()
    due(company, timezone.now() - timedelta(minutes=1))
    [archive] = backup_job.run_due_backups()
    [job] = run_queued_jobs()
    assert job.state == DataJob.State.SUCCEEDED, job.error
    archive.refresh_from_db()
    assert archive.status == ExportArchive.Status.READY and archive.requested_by is None and archive.scheduled


def test_a_company_being_deleted_or_on_the_free_plan_gets_no_run(company, other_company):
    set_schedule(company)
    set_schedule(other_company)
    due(company, timezone.now() - timedelta(minutes=1))
    due(other_company, timezone.now() - timedelta(minutes=1))
    Company.objects.filter(pk=company.pk).update(status=Company.Status.DELETING)
    Company.objects.filter(pk=other_company.pk).update(plan=Plan.objects.get(code="free"))
    assert backup_job.run_due_backups() == []
    assert not ExportArchive.objects.filter(scheduled=True).exists()
    assert AuditEvent.objects.filter(company=other_company, action="backup.skipped").exists()


def test_a_failed_scheduled_run_tells_every_company_administrator(company):
    second_admin = make_user(company, "admin")
    set_schedule(company, encryption={"mode": "passphrase", "passphrase": "a long enough passphrase"})
    BackupSchedule.objects.filter(company=company).update(encrypted_passphrase="not-a-fernet-token")
    due(company, timezone.now() - timedelta(minutes=1))
    backup_job.run_due_backups()
    [job] = run_queued_jobs()
    assert job.state == DataJob.State.FAILED and "passphrase" in job.error
    for admin in (company.admin, second_admin):
        assert Notice.objects.filter(user=admin, message__contains="scheduled backup").exists()


# --- delivery to the company's bucket ---------------------------------------------------------------------------------


@pytest.mark.storage
def test_a_scheduled_backup_is_delivered_encrypted_and_restores_from_the_bucket(company, bucket, storage_backend):
    Contact.objects.create(company=company, first_name="Ada", email="ada@example.com")
    set_schedule(company, s3(bucket))
    due(company, timezone.now() - timedelta(minutes=1))
    backup_job.run_due_backups()
    [job] = run_queued_jobs()
    assert job.state == DataJob.State.SUCCEEDED, job.error
    archive = ExportArchive.objects.get(company=company, scheduled=True)
    key = archive.delivered_to.removeprefix(f"s3://{bucket.name}/")
    assert key.startswith("backups/keel-export-") and key.endswith(".zip.age")
    assert objects(bucket) == {key: archive.encrypted_size}  # the connection test's object is gone too
    data = bucket.server.client().get_object(Bucket=bucket.name, Key=key)["Body"].read()
    # Restored into a new company from what the bucket holds, with the identity only its owner has.
    target = make_company("Phoenix")
    upload = {"file": SimpleUploadedFile("backup.zip.age", data)}
    assert ApiClient(target.admin).upload("restores", upload, {"identity": str(IDENTITY)}).status_code == 202
    [restore] = run_queued_jobs()
    assert restore.state == DataJob.State.SUCCEEDED, restore.error
    assert Contact.objects.get(company=target).email == "ada@example.com"


def test_a_failed_upload_is_retried_without_writing_the_archive_again(company, bucket, settings):
    settings.KEEL_BACKUP_ENDPOINT_ALLOWLIST = ["127.0.0.1"]  # any port of it: the server below is down
    set_schedule(company, s3(bucket))
    BackupSchedule.objects.filter(company=company).update(endpoint_url=f"http://127.0.0.1:{closed_port()}")
    archive = backups.do_run_backup_now(company, actor=company.admin)
    job = run_job(archive.job_id)
    assert job.state == DataJob.State.QUEUED  # the upload failed: the job waits for its next attempt
    archive.refresh_from_db()
    assert archive.status == ExportArchive.Status.READY and archive.delivery_state == "pending"
    written_at, sha256 = archive.finished_at, archive.sha256
    BackupSchedule.objects.filter(company=company).update(endpoint_url=bucket.endpoint)
    assert run_job(archive.job_id).state == DataJob.State.SUCCEEDED
    archive.refresh_from_db()
    assert archive.delivery_state == "delivered" and (archive.finished_at, archive.sha256) == (written_at, sha256)
    assert list(objects(bucket)) == [archive.delivered_to.removeprefix(f"s3://{bucket.name}/")]


def test_an_endpoint_no_longer_allowed_is_refused_at_delivery_and_the_archive_stays_in_keel(company, bucket, settings):
    set_schedule(company, s3(bucket))
    settings.KEEL_BACKUP_ENDPOINT_ALLOWLIST = []  # the operator withdrew the exception
    archive = backups.do_run_backup_now(company, actor=company.admin)
    [job] = run_queued_jobs()
    assert job.state == DataJob.State.FAILED and "not a public https:// address" in job.error
    archive.refresh_from_db()
    assert archive.status == ExportArchive.Status.READY and archive.delivery_state == "failed"
    assert objects(bucket) == {}
    assert ApiClient(company.admin).get(f"exports/{archive.pk}/download").status_code == 200


def test_retention_keeps_the_newest_and_deletes_only_what_keel_wrote(company, bucket):
    set_schedule(company, s3(bucket), keep=2)
    client = bucket.server.client()
    client.put_object(Bucket=bucket.name, Key="backups/the-company-own-file.txt", Body=b"mine")
    start = timezone.now() - timedelta(weeks=3)
    for week in range(3):
        due(company, start + timedelta(weeks=week))
        backup_job.run_due_backups(start + timedelta(weeks=week, minutes=1))
        [job] = run_queued_jobs()
        assert job.state == DataJob.State.SUCCEEDED, job.error
    oldest, *newest = ExportArchive.objects.filter(company=company, scheduled=True).order_by("id")
    remaining = objects(bucket)
    assert "backups/the-company-own-file.txt" in remaining
    assert {a.delivered_to.removeprefix(f"s3://{bucket.name}/") for a in newest} <= set(remaining)
    assert oldest.delivered_to.removeprefix(f"s3://{bucket.name}/") not in remaining
    oldest.refresh_from_db()
    assert oldest.status == ExportArchive.Status.EXPIRED and oldest.delivery_state == "removed"
    assert backup_job.apply_retention(company.pk) == 0  # safe to repeat: nothing more to remove


def test_test_connection_says_what_failed(company, bucket, settings):
    api = ApiClient(company.admin)
    assert api.post("exports/schedule/test-destination", {"destination": s3(bucket)}).json() == {"ok": True}
    assert objects(bucket) == {}  # its test object was deleted
    missing = api.post("exports/schedule/test-destination", {"destination": s3(bucket, bucket="no-such-bucket")})
    assert missing.status_code == 422 and missing.json()["error"]["code"] == "destination_unreachable"
    assert "“no-such-bucket” does not exist" in missing.json()["error"]["message"]
    port = closed_port()
    settings.KEEL_BACKUP_ENDPOINT_ALLOWLIST = [f"127.0.0.1:{port}"]
    down = api.post(
        "exports/schedule/test-destination", {"destination": s3(bucket, endpoint_url=f"http://127.0.0.1:{port}")}
    )
    assert down.status_code == 422 and "unreachable" in down.json()["error"]["message"]
    denied = ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "PutObject")
    assert destinations.explain(denied, destinations.S3Destination(*"e r b p a s".split())).startswith("Access denied")


def test_the_saved_destination_is_tested_without_sending_its_secret_again(company, bucket):
    set_schedule(company, s3(bucket))
    assert ApiClient(company.admin).post("exports/schedule/test-destination").json() == {"ok": True}


def test_a_large_archive_is_uploaded_in_parts_and_its_size_checked(bucket, settings):
    settings.KEEL_BACKUP_UPLOAD_PART_BYTES = 5 * 1024 * 1024
    destination = destinations.S3Destination(bucket.endpoint, "us-east-1", bucket.name, "big", "keel-test-key", SECRET)
    data = bytes(range(256)) * (11 * 1024 * 4)  # 11 MiB: three parts
    key = destinations.upload(destination, io.BytesIO(data), "archive.zip.age", len(data))
    head = bucket.server.client().head_object(Bucket=bucket.name, Key=key)
    assert head["ContentLength"] == len(data) and head["ETag"].strip('"').endswith("-3")


def test_connections_go_to_the_checked_addresses_never_to_a_new_lookup(bucket):
    port = bucket.endpoint.rsplit(":", 1)[1]
    # A name that never resolves (.invalid): the request still arrives, at the address pinned for it.
    client = boto3.client(
        "s3",
        endpoint_url=f"http://backups.invalid:{port}",
        region_name="us-east-1",
        aws_access_key_id="keel-test-key",
        aws_secret_access_key=SECRET,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )
    pin(client, {"backups.invalid": ["127.0.0.1"]})
    with pytest.raises(ClientError) as answered:  # the S3 server answered (it reads a bucket from the host name)
        client.list_buckets()
    assert answered.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    # Nothing checked for the endpoint's host: no connection is made at all.
    guarded = guarded_s3_client(
        bucket.endpoint,
        region="us-east-1",
        access_key_id="keel-test-key",
        secret_access_key=SECRET,
        deadline_seconds=10,
    )
    pin(guarded, {"127.0.0.1": []})
    with pytest.raises(EndpointConnectionError):
        guarded.list_buckets()


def test_a_request_after_the_deadline_is_not_sent(bucket):
    client = guarded_s3_client(
        bucket.endpoint, region="us-east-1", access_key_id="keel-test-key", secret_access_key=SECRET, deadline_seconds=1
    )
    time.sleep(1.1)
    with pytest.raises(OutboundFailed, match="deadline"):
        client.list_buckets()


def test_no_secret_reaches_the_logs(company, bucket, caplog):
    caplog.set_level(logging.DEBUG)
    set_schedule(company, s3(bucket))
    ApiClient(company.admin).post("exports/schedule/test-destination")
    backups.do_run_backup_now(company, actor=company.admin)
    run_queued_jobs()
    assert SECRET not in caplog.text and "keel-test-secret" not in caplog.text
