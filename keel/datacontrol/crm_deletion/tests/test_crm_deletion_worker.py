"""Delete all CRM records with real processes and real concurrency: a worker killed with SIGKILL mid-run, and an
import and a deletion started at the same instant on PostgreSQL."""

import os
import signal
import threading
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import timezone

from keel.audit.models import AuditEvent
from keel.contacts.actions import do_create_contact
from keel.contacts.imports.actions import do_import_file
from keel.contacts.models import Attachment, Contact
from keel.datacontrol import eraser, graph
from keel.datacontrol.crm_deletion import actions as crm_deletion_actions
from keel.datacontrol.crm_deletion.actions import do_start_crm_deletion
from keel.datacontrol.tests.factories import add_bulk_contacts, dump, make_crm_data
from keel.errors import Conflict
from keel.jobs.models import DataJob
from keel.jobs.tasks import create_job
from keel.testing import grant, start_worker, stop_process, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

CONTACTS = 3000
EVENTS_PER_CONTACT = 5


def allowed_admin(company):
    grant(company, crm_deletion_actions.PERMISSION)
    company.admin.role.refresh_from_db()
    return company.admin


def job_row(job):
    return DataJob.objects.values("state", "progress_done", "progress_total", "attempts").get(pk=job.pk)


def test_sigkill_of_the_worker_mid_run_then_the_reaper_resumes_it_to_completion(company, other_company, settings):
    for target in (company, other_company):
        make_crm_data(target)
        add_bulk_contacts(target, CONTACTS, EVENTS_PER_CONTACT)
    other_before = dump(other_company)
    attachment_files = [a.file.name for a in Attachment.objects.filter(company=company)]
    admin = allowed_admin(company)
    env = {
        "KEEL_FILES_DIR": settings.STORAGES["default"]["OPTIONS"].get("location", ""),
        "KEEL_DELETION_BATCH_ROWS": "40",
        "KEEL_JOB_LEASE_SECONDS": "2",
    }
    worker = start_worker(env)
    try:
        job = do_start_crm_deletion(admin.company, actor=admin)
        total = CONTACTS * (1 + EVENTS_PER_CONTACT) + 57 + 3
        wait_for(
            lambda: 0 < job_row(job)["progress_done"] < total / 2, timeout=60, interval=0.01, what="the first batches"
        )
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
    finally:
        stop_process(worker)

    killed = job_row(job)
    assert killed["state"] == DataJob.State.RUNNING and killed["progress_total"] == total
    assert eraser.remaining_rows(company.pk, graph.crm_models())  # the kill landed mid-run
    # The lock holds while nobody runs the job: no import, no contact write.
    with pytest.raises(Conflict) as refused:
        create_job(company, DataJob.Kind.IMPORT, requested_by=admin)
    assert refused.value.code == "crm_deletion_in_progress"
    with pytest.raises(Conflict):
        do_create_contact(company, {"email": "late@example.com"}, actor=admin)

    seen = [killed]
    worker = start_worker(env)
    try:

        def finished():
            try:
                do_create_contact(company, {"email": "late@example.com"}, actor=admin)
                wrote = True
            except Conflict:
                wrote = False
            row = job_row(job)
            seen.append(row)
            ended = row["state"] not in DataJob.ACTIVE_STATES
            assert ended or not wrote, "a contact was written while the deletion was still active"
            return row if ended else None

        final = wait_for(finished, timeout=120, interval=0.05, what="the resumed deletion to finish")
    finally:
        stop_process(worker)

    assert final["state"] == DataJob.State.SUCCEEDED and final["attempts"] == 2
    assert all(row["progress_total"] == total for row in seen)  # the total counted once, kept across the resume
    done = [row["progress_done"] for row in seen]
    assert done == sorted(done) and done[-1] == total  # the bar never moved backwards
    # The poll's last write may have landed just after the job ended (the lock was gone): only that may be left.
    late = Contact.objects.filter(company=company, email="late@example.com").first()
    after_end = {} if late is None else {"contacts": 1, "contact_events": late.events.count()}
    assert late is None or late.created_at >= DataJob.objects.get(pk=job.pk).finished_at
    assert eraser.remaining_rows(company.pk, graph.crm_models()) == {k: n for k, n in after_end.items() if n}
    assert not any(os.path.exists(os.path.join(env["KEEL_FILES_DIR"], name)) for name in attachment_files)
    assert dump(other_company) == other_before
    assert AuditEvent.objects.filter(company=company, action="crm.deleted_all").count() == 1
    do_create_contact(company, {"email": "after@example.com"}, actor=admin)  # unlocked


def _race(company, admin, csv_file):
    """Start an import and a CRM deletion at the same instant from two threads. Returns (winners, errors)."""
    barrier = threading.Barrier(2)
    outcomes = {}

    def attempt(name, start):
        try:
            barrier.wait(timeout=10)
            outcomes[name] = start()
        except Conflict as exc:
            outcomes[name] = exc
        finally:
            connection.close()

    threads = [
        threading.Thread(target=attempt, args=("deletion", lambda: do_start_crm_deletion(admin.company, actor=admin))),
        threading.Thread(
            target=attempt, args=("import", lambda: do_import_file(admin.company, csv_file(), actor=admin))
        ),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


@pytest.mark.postgres
def test_an_import_and_a_deletion_started_at_the_same_instant_exactly_one_wins(company):
    make_crm_data(company, contacts=2, files=False)
    admin = allowed_admin(company)

    def csv_file():
        return SimpleUploadedFile("people.csv", b"Email\nnew@example.com\n", content_type="text/csv")

    winners = set()
    for _ in range(6):
        outcomes = _race(company, admin, csv_file)
        won = [name for name, outcome in outcomes.items() if isinstance(outcome, DataJob)]
        lost = [outcome for outcome in outcomes.values() if isinstance(outcome, Conflict)]
        assert len(won) == 1 and len(lost) == 1, outcomes
        assert lost[0].code in ("operation_in_progress", "crm_deletion_in_progress")
        active = DataJob.objects.filter(company=company, state__in=DataJob.ACTIVE_STATES)
        assert active.count() == 1 and active.get().kind == {"deletion": "crm_deletion", "import": "import"}[won[0]]
        winners.add(won[0])
        active.update(state=DataJob.State.CANCELLED, finished_at=timezone.now())  # free the slot for the next round
        time.sleep(0.01)
    assert (
        DataJob.objects.filter(kind=DataJob.Kind.CRM_DELETION).count()
        + DataJob.objects.filter(kind=DataJob.Kind.IMPORT).count()
        == 6
    )
