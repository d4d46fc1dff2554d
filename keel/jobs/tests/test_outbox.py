"""Completion side effects exactly once (keel.jobs.outbox): a worker SIGKILLed at each boundary between a job's
final state, its audit event and its announcement, then a new worker. Every job kind ends with exactly one
completion audit event (a company deletion: exactly one completed receipt) and at least one notice or e-mail."""

import signal
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from keel.accounts.models import Notice
from keel.audit.models import AuditEvent
from keel.contacts.bulk_actions import Selection, do_bulk_delete_contacts
from keel.contacts.imports.actions import do_import_file
from keel.contacts.listing import ContactFilter
from keel.datacontrol.company_deletion.tests.factories import start_deletion
from keel.datacontrol.crm_deletion import actions as crm_deletion_actions
from keel.datacontrol.crm_deletion.actions import do_start_crm_deletion
from keel.datacontrol.export.actions import do_start_export
from keel.datacontrol.models import DeletionReceipt
from keel.datacontrol.tests.factories import add_bulk_contacts
from keel.jobs.models import DataJob, JobOutboxEntry
from keel.jobs.outbox import KILL_POINT_VARIABLE
from keel.testing import fill_every_tenant_table, grant, start_worker, stop_process, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

# Where a worker can die around the end of a job: before the final state commits (the work is done), after it
# (effects recorded, none delivered), after the audit event, after the notice (or the company deletion's e-mail).
KILL_POINTS = ["before_final_state", "after_final_state", "after_audit", "after_notify"]
COMPANY_DELETION_KILL_POINTS = ["after_final_state", "after_call"]


def start_import(company):
    upload = SimpleUploadedFile("people.csv", b"email,first_name\na@example.com,A\nb@example.com,B\n")
    job = do_import_file(company, upload, actor=company.admin)
    return job, ("import.succeeded", str(job.pk))


def start_export(company):
    archive = do_start_export(company, actor=company.admin)
    return archive.job, ("export.completed", str(archive.pk))


def start_crm_deletion(company):
    add_bulk_contacts(company, 5, 1)
    grant(company, crm_deletion_actions.PERMISSION)
    company.admin.role.refresh_from_db()
    job = do_start_crm_deletion(company, actor=company.admin)
    return job, ("crm.deleted_all", str(job.pk))


def start_contact_deletion(company):
    add_bulk_contacts(company, 5, 1)
    with override_settings(KEEL_BULK_DELETE_INLINE_LIMIT=2):  # five contacts are a job
        deletion = do_bulk_delete_contacts(company, Selection(contact_filter=ContactFilter()), actor=company.admin)
    return deletion.job, ("contacts.bulk_deleted", str(deletion.job.pk))


STARTS = {
    "import": start_import,
    "export": start_export,
    "crm_deletion": start_crm_deletion,
    "contact_deletion": start_contact_deletion,
}


def worker_env(settings, tmp_path, **extra):
    return {
        "KEEL_FILES_DIR": settings.STORAGES["default"]["OPTIONS"].get("location", ""),
        "KEEL_DATA_DIR": str(tmp_path / "data"),  # the worker's e-mails are written to its mail folder there
        "KEEL_SECRET_KEY": settings.SECRET_KEY,
        "KEEL_JOB_LEASE_SECONDS": "2",
        **extra,
    }


def kill_then_resume(settings, tmp_path, point, finished):
    """A worker that SIGKILLs itself at ``point``, then a fresh worker that carries on until ``finished()``."""
    doomed = start_worker(worker_env(settings, tmp_path, **{KILL_POINT_VARIABLE: point}))
    try:
        wait_for(lambda: doomed.poll() is not None, timeout=60, what=f"the worker to kill itself at {point}")
    finally:
        stop_process(doomed)
    assert doomed.returncode == -signal.SIGKILL, f"the worker was not killed at {point}"
    resumed = start_worker(worker_env(settings, tmp_path))
    try:
        wait_for(finished, timeout=60, what="the resumed worker to complete the job and its side effects")
    finally:
        stop_process(resumed)


@pytest.mark.parametrize("point", KILL_POINTS)
@pytest.mark.parametrize("kind", sorted(STARTS))
def test_a_job_killed_around_its_end_is_audited_once_and_announced(company, settings, tmp_path, kind, point):
    job, (action, target_id) = STARTS[kind](company)

    def finished():
        ended = DataJob.objects.filter(pk=job.pk, state=DataJob.State.SUCCEEDED).exists()
        return ended and not JobOutboxEntry.objects.exists()

    kill_then_resume(settings, tmp_path, point, finished)
    assert AuditEvent.objects.filter(company=company, action=action, target_id=target_id).count() == 1
    assert Notice.objects.filter(user=company.admin).count() >= 1


@pytest.mark.parametrize("point", COMPANY_DELETION_KILL_POINTS)
def test_a_company_deletion_killed_around_its_end_completes_once_and_confirms(company, settings, tmp_path, point):
    fill_every_tenant_table(company, contacts=4)
    started = start_deletion(company, company.admin)

    def confirmations():
        mails = [path.read_text() for path in Path(tmp_path / "data" / "mail").glob("*")]
        return [text for text in mails if "System confirmation" in text]

    def finished():
        done = DeletionReceipt.objects.filter(pk=started.receipt.pk, state="succeeded").exists()
        return done and not JobOutboxEntry.objects.exists() and confirmations()

    kill_then_resume(settings, tmp_path, point, finished)
    assert DeletionReceipt.objects.filter(company_id_deleted=company.pk, state="succeeded").count() == 1
    sent = confirmations()
    assert len(sent) >= 1 and str(started.receipt.receipt_id) in sent[0]
