"""Imports in a real worker process: killed with SIGKILL half-way and resumed by the reaper of a new worker,
or stopped gracefully and handed straight back to the queue. Every row ends up imported exactly once."""

import os
import signal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import Count

from keel.contacts.models import Contact, ContactEvent
from keel.jobs.models import DataJob
from keel.testing import ApiClient, start_worker, stop_process, wait_for

ROWS = 5000
BATCH = 25  # small batches make the import slow enough to be interrupted half-way


def big_csv():
    lines = ["email,first name,last name,tags"]
    lines += [f"person{n}@example.com,First{n},Last{n},batch{n % 7}" for n in range(ROWS)]
    return ("\n".join(lines) + "\n").encode()


def start_import(company):
    response = ApiClient(company.admin).upload("imports", {"file": SimpleUploadedFile("big.csv", big_csv())})
    assert response.status_code == 202, response.content
    return DataJob.objects.get(pk=response.json()["job"]["id"])


def rows_done(job):
    job.refresh_from_db()
    return (job.cursor or {}).get("rows", 0)


def assert_imported_exactly_once(company, job):
    job.refresh_from_db()
    assert job.state == DataJob.State.SUCCEEDED, (job.state, job.error)
    assert (job.result["rows"], job.result["created"], job.result["errors"]) == (ROWS, ROWS, 0)
    contacts = Contact.objects.filter(company=company)
    assert contacts.count() == ROWS
    assert contacts.values("email").distinct().count() == ROWS
    events = ContactEvent.objects.filter(company=company, kind="imported")
    assert events.count() == ROWS
    assert not events.values("contact").annotate(n=Count("id")).filter(n__gt=1).exists()
    assert set(contacts.values_list("email", flat=True)) == {f"person{n}@example.com" for n in range(ROWS)}


@pytest.fixture
def worker_env(settings):
    env = {"KEEL_FILES_DIR": settings.STORAGES["default"]["OPTIONS"].get("location", ""), "KEEL_BATCH_SIZE": str(BATCH)}
    started = []

    def start(**extra):
        process = start_worker({**env, **extra})
        started.append(process)
        return process

    yield start
    for process in started:
        stop_process(process)


def test_a_worker_killed_mid_import_is_resumed_by_a_new_worker_and_imports_every_row_once(
    transactional_db, company, worker_env
):
    job = start_import(company)
    first = worker_env()
    wait_for(lambda: rows_done(job) >= 8 * BATCH, timeout=120, what="the import to be under way")
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)

    job.refresh_from_db()
    assert job.state == DataJob.State.RUNNING and job.attempts == 1  # nobody told the job its worker died
    assert 0 < job.cursor["rows"] < ROWS
    assert Contact.objects.filter(company=company).count() == job.cursor["rows"]  # the cursor matches the data

    worker_env(KEEL_JOB_LEASE_SECONDS="2")  # its reaper finds the job's heartbeat stale after two seconds
    wait_for(lambda: DataJob.objects.get(pk=job.pk).is_final, timeout=240, what="the import to finish")
    assert_imported_exactly_once(company, job)
    job.refresh_from_db()
    assert job.attempts == 2


def test_a_worker_asked_to_stop_hands_its_import_back_at_once(transactional_db, company, worker_env):
    job = start_import(company)
    first = worker_env()
    wait_for(lambda: rows_done(job) >= 8 * BATCH, timeout=120, what="the import to be under way")
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=30) == 0  # it stopped after the batch it was in, without waiting for the end
    job.refresh_from_db()
    assert job.state == DataJob.State.QUEUED and job.attempts == 0  # back in the queue, no attempt used up
    assert 0 < job.cursor["rows"] < ROWS

    worker_env()  # the default lease (60 s): the job runs at once, nothing waits to be reaped
    wait_for(lambda: DataJob.objects.get(pk=job.pk).is_final, timeout=240, what="the import to finish")
    assert_imported_exactly_once(company, job)
