"""A restore survives its worker being killed: the reaper resumes it, and the company ends as an uninterrupted
restore would leave it, with no duplicate and no missing row."""

import os
import signal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import Count

from keel.contacts.models import Contact, ContactEvent
from keel.datacontrol.restore.actions import do_start_restore
from keel.datacontrol.restore.tests.archives import export_bytes, manifest_of
from keel.datacontrol.tests.factories import add_bulk_contacts
from keel.jobs.models import DataJob
from keel.testing import fill_every_tenant_table, make_company, start_worker, stop_process, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def job_row(job):
    return DataJob.objects.values("state", "progress_done", "progress_total", "attempts").get(pk=job.pk)


def test_sigkill_mid_restore_then_the_reaper_resumes_it_with_no_duplicate(company, settings):
    fill_every_tenant_table(company)
    add_bulk_contacts(company, 3000, 3)
    archive = export_bytes(company)
    rows = {entry["entity"]: entry["rows"] for entry in manifest_of(archive)["files"]}
    target = make_company("Phoenix")
    env = {
        "KEEL_FILES_DIR": settings.STORAGES["default"]["OPTIONS"]["location"],
        "KEEL_BATCH_SIZE": "10",
        "KEEL_JOB_LEASE_SECONDS": "2",
    }
    worker = start_worker(env)
    try:
        job = do_start_restore(target, SimpleUploadedFile("a.zip", archive), actor=target.admin)
        wait_for(
            lambda: 0 < Contact.objects.filter(company=target).count() < rows["contacts"] / 2,
            timeout=90,
            interval=0.005,
            what="the restore to be writing contacts",
        )
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
    finally:
        stop_process(worker)
    assert job_row(job)["state"] == DataJob.State.RUNNING
    assert 0 < Contact.objects.filter(company=target).count()  # the kill landed mid-way

    worker = start_worker(env)
    try:
        final = wait_for(
            lambda: job_row(job)["state"] not in DataJob.ACTIVE_STATES and job_row(job),
            timeout=120,
            what="the resumed restore to finish",
        )
    finally:
        stop_process(worker)
    assert final["state"] == DataJob.State.SUCCEEDED and final["attempts"] == 2
    assert Contact.objects.filter(company=target).count() == rows["contacts"]
    assert ContactEvent.objects.filter(company=target).count() == rows["contact_events"]
    doubled = Contact.objects.filter(company=target).exclude(email="").values("email").annotate(n=Count("id"))
    assert not doubled.filter(n__gt=1).exists()
