"""A bulk deletion of contacts run by a real worker that is killed with SIGKILL mid-run: the reaper gives it back to
the queue, a new worker carries on, and every selected contact is deleted once, nothing else."""

import os
import signal

import pytest
from django.test import override_settings

from keel.audit.models import AuditEvent
from keel.contacts.bulk_actions import Selection, do_bulk_delete_contacts
from keel.contacts.listing import ContactFilter
from keel.contacts.models import Contact, ContactEvent
from keel.contacts.tests.factories import make_contact
from keel.datacontrol.tests.factories import add_bulk_contacts
from keel.jobs.models import DataJob
from keel.testing import start_worker, stop_process, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

CONTACTS = 3000


def job_row(job):
    return DataJob.objects.values("state", "progress_done", "progress_total", "attempts", "cursor").get(pk=job.pk)


def test_sigkill_of_the_worker_mid_run_then_a_new_worker_finishes_the_deletion_once(company, other_company):
    for target in (company, other_company):
        add_bulk_contacts(target, CONTACTS, 2)
    kept = make_contact(company, "kept@example.com", "Kept")  # does not match the search
    theirs = Contact.objects.filter(company=other_company).count()
    env = {"KEEL_BATCH_SIZE": "40", "KEEL_JOB_LEASE_SECONDS": "2"}
    worker = start_worker(env)
    try:
        with override_settings(KEEL_BULK_DELETE_INLINE_LIMIT=100):
            selection = Selection(contact_filter=ContactFilter(q="bulk"))
            job = do_bulk_delete_contacts(company, selection, actor=company.admin).job
        late = make_contact(company, "bulk-late@example.com", "Late")  # matches, but came after the request
        wait_for(
            lambda: 0 < job_row(job)["progress_done"] < CONTACTS / 2, timeout=60, interval=0.01, what="first batches"
        )
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
    finally:
        stop_process(worker)

    killed = job_row(job)
    assert killed["state"] == DataJob.State.RUNNING and killed["progress_total"] == CONTACTS
    assert 0 < killed["cursor"]["deleted"] < CONTACTS  # the kill landed mid-run

    worker = start_worker(env)
    try:
        wait_for(lambda: job_row(job)["state"] == DataJob.State.SUCCEEDED, timeout=120, what="the resumed deletion")
    finally:
        stop_process(worker)

    finished = DataJob.objects.get(pk=job.pk)
    assert finished.attempts == 2 and finished.result["deleted"] == CONTACTS
    assert set(Contact.objects.filter(company=company).values_list("pk", flat=True)) == {kept.pk, late.pk}
    assert not ContactEvent.objects.filter(company=company).exists()
    assert Contact.objects.filter(company=other_company).count() == theirs
    assert AuditEvent.objects.filter(action="contacts.bulk_deleted", target_id=str(job.pk)).count() == 1
