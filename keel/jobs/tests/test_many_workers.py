"""Many machines, proven: several `keel worker` processes on PostgreSQL take a burst of jobs of every kind for
several companies; one worker is SIGKILLed mid-burst. Every job runs to its end exactly once, the per-company
exclusion holds throughout, and the outcome is what one undisturbed worker would have produced.
(docs/deployment.md, "What scales how".)
"""

import os
import signal
from collections import Counter

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile

from keel.accounts.models import Company
from keel.audit.models import AuditEvent
from keel.contacts.imports.actions import do_import_file
from keel.contacts.models import Attachment, Contact, ContactEvent
from keel.datacontrol.company_deletion.tests.factories import rows_of_company, start_deletion
from keel.datacontrol.crm_deletion import actions as crm_deletion_actions
from keel.datacontrol.crm_deletion.actions import do_start_crm_deletion
from keel.datacontrol.export.actions import do_start_export
from keel.datacontrol.models import DeletionReceipt, ExportArchive
from keel.datacontrol.tests.factories import add_bulk_contacts
from keel.errors import Conflict
from keel.jobs.models import DataJob
from keel.storage import company_folder, walk_files
from keel.testing import grant, make_company, start_worker, stop_process, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WORKERS = 3
IMPORT_ROWS = 1000
WORKER_ENV = {
    "KEEL_BATCH_SIZE": "10",
    "KEEL_DELETION_BATCH_ROWS": "10",
    "KEEL_JOB_LEASE_SECONDS": "2",
    "KEEL_JOB_HEARTBEAT_SECONDS": "0.2",
}


def csv_of(rows, prefix):
    lines = ["email,first_name"] + [f"{prefix}{n}@example.com,Person {n}" for n in range(rows)]
    return SimpleUploadedFile(f"{prefix}.csv", ("\n".join(lines) + "\n").encode(), content_type="text/csv")


def with_files(company, contacts):
    add_bulk_contacts(company, contacts, 2)
    contact = Contact.objects.filter(company=company).first()
    Attachment.objects.create(
        company=company, contact=contact, file=ContentFile(b"attached", name="a.txt"), filename="a.txt"
    )


def burst(companies):
    """Every kind of job, for every company, at once; returns the jobs and the starts the exclusion refused."""
    importers, crm_deleters, deleted = companies[:2], companies[2:4], companies[4:]
    jobs, refused = [], 0
    for company in importers:
        jobs.append(do_import_file(company, csv_of(IMPORT_ROWS, f"c{company.pk}-"), actor=company.admin))
    for company in crm_deleters:
        grant(company, crm_deletion_actions.PERMISSION)
        company.admin.role.refresh_from_db()
        with_files(company, 60)
        jobs.append(do_start_crm_deletion(company, actor=company.admin))
    for company in companies[:4]:
        jobs.append(do_start_export(company, actor=company.admin).job)
    for company in deleted:
        with_files(company, 60)
        jobs.append(start_deletion(company, company.admin).job)
    # A second exclusive job for a company with one active is refused by the database, whoever asks.
    for company in importers:
        try:
            do_import_file(company, csv_of(5, f"again{company.pk}-"), actor=company.admin)
        except Conflict:
            refused += 1
    return [job.pk for job in jobs], refused


def exclusive_intervals_overlap(company_id):
    jobs = list(DataJob.objects.filter(company_id=company_id, kind__in=DataJob.EXCLUSIVE_KINDS).order_by("started_at"))
    return any(later.started_at < earlier.finished_at for earlier, later in zip(jobs, jobs[1:], strict=False))


def test_a_burst_of_every_kind_of_job_on_several_workers_with_one_killed(settings):
    companies = [make_company(f"Burst {n}") for n in range(6)]
    job_ids, refused = burst(companies)
    assert refused == 2
    deleted_ids = [company.pk for company in companies[4:]]
    receipts = {cid: DeletionReceipt.objects.get(company_id_deleted=cid).pk for cid in deleted_ids}

    env = {**WORKER_ENV, "KEEL_FILES_DIR": settings.STORAGES["default"]["OPTIONS"]["location"]}
    # The first worker starts alone, so that the job under way is certainly its own when it is killed.
    workers = [start_worker(env)]
    try:
        killed_job = wait_for(
            lambda: DataJob.objects.filter(
                pk__in=job_ids, kind="import", state="running", progress_done__gt=0, progress_done__lt=IMPORT_ROWS // 2
            ).first(),
            timeout=60,
            interval=0.02,
            what="the burst to be under way",
        )
        workers += [start_worker(env) for _ in range(WORKERS - 1)]
        os.kill(workers[0].pid, signal.SIGKILL)  # mid-job: the others' reapers resume its job
        workers[0].wait(timeout=10)

        def all_done():
            left = DataJob.objects.filter(pk__in=job_ids).exclude(state=DataJob.State.SUCCEEDED).count()
            receipts_done = DeletionReceipt.objects.filter(pk__in=receipts.values(), state="succeeded").count()
            return left == 0 and receipts_done == len(receipts)

        try:
            wait_for(all_done, timeout=100, interval=0.1, what="every job of the burst to succeed")
        except AssertionError as timed_out:
            states = list(DataJob.objects.filter(pk__in=job_ids).values_list("pk", "kind", "state", "attempts"))
            raise AssertionError(f"{timed_out}; jobs: {states}") from None
    finally:
        for worker in workers:
            stop_process(worker)

    surviving = [c for c in companies if c.pk not in deleted_ids]
    # The killed worker's import was resumed by another worker (and its rows imported once, below).
    assert DataJob.objects.get(pk=killed_job.pk).attempts == 2
    jobs = DataJob.objects.filter(pk__in=job_ids)
    # Every job of the surviving companies ended succeeded; the deleted companies' jobs went with them.
    assert jobs.count() == len(job_ids) - len(deleted_ids)
    assert set(jobs.values_list("state", flat=True)) == {DataJob.State.SUCCEEDED}
    for company in surviving:
        assert not exclusive_intervals_overlap(company.pk), f"two exclusive jobs of {company} ran together"
    completions = Counter(
        (event.action, event.target_id)
        for event in AuditEvent.objects.filter(action__in=["import.succeeded", "export.completed", "crm.deleted_all"])
    )
    for job in jobs.exclude(kind=DataJob.Kind.EXPORT):
        action = "import.succeeded" if job.kind == DataJob.Kind.IMPORT else "crm.deleted_all"
        assert completions[(action, str(job.pk))] == 1, f"{job} was not completed exactly once"
    for archive in ExportArchive.objects.filter(job__in=job_ids):
        assert archive.status == ExportArchive.Status.READY
        assert completions[("export.completed", str(archive.pk))] == 1
    # Imports: every row exactly once, whatever worker ran which batch.
    for company in surviving[:2]:
        assert Contact.objects.filter(company=company).count() == IMPORT_ROWS
        assert ContactEvent.objects.filter(company=company, kind="imported").count() == IMPORT_ROWS
    # CRM deletions: no contact and no contact file left; the export archives stay.
    for company in surviving[2:4]:
        assert not Contact.objects.filter(company=company).exists()
        assert list(walk_files(company_folder(company.pk, "attachments"))) == []
    # Company deletions: nothing of the company left, one receipt each.
    for company_id in deleted_ids:
        assert not Company.objects.filter(pk=company_id).exists()
        assert rows_of_company(company_id) == {}
        assert list(walk_files(company_folder(company_id))) == []
        assert DeletionReceipt.objects.filter(company_id_deleted=company_id, state="succeeded").count() == 1
