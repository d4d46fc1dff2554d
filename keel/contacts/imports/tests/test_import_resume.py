"""An import interrupted at any point carries on exactly where its last committed batch ended; cancelling and
the clean-up of stored files.

The real thing (a worker process killed with SIGKILL) is in test_import_worker.py; here a run is interrupted
inline at chosen points, which is fast enough to try several of them.
"""

import os
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from keel.contacts.imports import job as import_job
from keel.contacts.imports.actions import do_start_import, do_upload_import_file
from keel.contacts.imports.sweep import sweep_import_files
from keel.contacts.imports.tests.helpers import report_rows, start, stored_files
from keel.contacts.models import Contact, ContactEvent
from keel.jobs.models import DataJob
from keel.jobs.progress import Progress
from keel.jobs.runner import claim, request_cancel
from keel.testing import run_queued_jobs

ROWS = 23
BAD_LINES = {5, 14, 22}  # line numbers (the header is line 1) of rows with an invalid e-mail address


def big_csv():
    lines = ["email,first name,last name"]
    for n in range(2, ROWS + 2):
        email = "broken" if n in BAD_LINES else f"person{n}@example.com"
        lines.append(f"{email},First{n},Last{n}")
    return "\n".join(lines) + "\n"


class Crash(Exception):
    pass


class CrashingProgress(Progress):
    """Dies like a killed worker: at a batch boundary (``at="checkpoint"``) or inside a batch's transaction,
    after its writes and before its commit (``at="commit"``)."""

    def __init__(self, job, after, at):
        super().__init__(job, heartbeat=False)
        self.after, self.at, self.seen = after, at, 0

    def _maybe_crash(self, where):
        if where == self.at:
            self.seen += 1
            if self.seen > self.after:
                raise Crash()

    def checkpoint(self):
        self._maybe_crash("checkpoint")
        super().checkpoint()

    def commit(self, cursor):
        self._maybe_crash("commit")
        super().commit(cursor)


def run_until_crash(job_id, after, at):
    job = claim(job_id)
    with pytest.raises(Crash):
        import_job.run_import(job, CrashingProgress(job, after, at))
    # What the reaper does for a runner that stopped responding: back to the queue.
    DataJob.objects.filter(pk=job_id).update(state=DataJob.State.QUEUED)


@pytest.mark.parametrize(
    "after,at",
    [
        (0, "commit"),  # dies before the row count is stored
        (1, "checkpoint"),  # dies after counting, before the first batch
        (2, "checkpoint"),  # dies between the first and the second batch
        (3, "commit"),  # dies inside the third batch, after its writes
        (5, "commit"),  # dies inside the last batch
        (7, "commit"),  # dies after all rows, while finishing
    ],
)
def test_an_interrupted_import_resumes_without_duplicates_or_gaps(api, company, settings, after, at):
    settings.KEEL_BATCH_SIZE = 5
    job_id = start(api, big_csv()).json()["job"]["id"]
    run_until_crash(job_id, after, at)
    [job] = run_queued_jobs()
    assert job.state == DataJob.State.SUCCEEDED
    assert job.attempts == 2
    good = ROWS - len(BAD_LINES)
    assert Contact.objects.filter(company=company).count() == good
    assert ContactEvent.objects.filter(company=company, kind="imported").count() == good
    assert (job.result["rows"], job.result["created"], job.result["errors"]) == (ROWS, good, len(BAD_LINES))
    assert sorted(int(row[0]) for row in report_rows(api, job)[1:]) == sorted(BAD_LINES)
    assert (job.progress_done, job.progress_total) == (ROWS, ROWS)


def test_the_cursor_is_the_position_after_the_last_committed_batch(api, company, settings):
    settings.KEEL_BATCH_SIZE = 5
    job_id = start(api, big_csv()).json()["job"]["id"]
    run_until_crash(job_id, after=3, at="commit")  # count + 2 batches committed, the third rolled back
    job = DataJob.objects.get(pk=job_id)
    assert job.cursor["rows"] == 10 and job.cursor["batch"] == 2
    assert job.cursor["line"] == 12  # lines 2-11 are done
    assert Contact.objects.filter(company=company).count() == 10 - len({5} & BAD_LINES)
    with default_storage.open(job.params["upload"], "rb") as f:
        f.seek(job.cursor["offset"])
        assert f.readline() == b"person12@example.com,First12,Last12\n"


def test_a_running_import_is_cancelled_at_a_batch_boundary_and_keeps_its_rows(api, company, settings):
    settings.KEEL_BATCH_SIZE = 5
    job_id = start(api, big_csv()).json()["job"]["id"]

    class CancelAfterTwoBatches(Progress):
        def commit(self, cursor):
            super().commit(cursor)
            if cursor.get("batch") == 2:
                request_cancel(DataJob.objects.get(pk=self.job.pk))

    job = claim(job_id)
    from keel.jobs.progress import JobCancelled

    with pytest.raises(JobCancelled):
        import_job.run_import(job, CancelAfterTwoBatches(job, heartbeat=False))
    assert job.result["rows"] == 10
    assert job.result["summary"].startswith("It stopped after 10 of 23 rows: 9 contacts created, 0 updated.")
    assert Contact.objects.filter(company=company).count() == 9
    assert stored_files(company) == [f"{job.params['folder']}/errors.csv"]  # upload gone, report kept


def test_cancelling_through_the_runner_ends_the_job_cancelled(api, company, settings):
    settings.KEEL_BATCH_SIZE = 5
    response = start(api, big_csv())
    job = DataJob.objects.get(pk=response.json()["job"]["id"])
    cancelled = api.post(f"jobs/{job.pk}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json()["state"] == "cancelled"
    job.refresh_from_db()
    assert job.result["summary"] == "Nothing was imported."
    assert stored_files(company) == []
    assert run_queued_jobs() == []


def test_a_failed_import_cleans_up_and_says_why(api, company):
    response = start(api, big_csv())
    job = DataJob.objects.get(pk=response.json()["job"]["id"])
    default_storage.delete(job.params["upload"])
    [job] = run_queued_jobs()
    assert job.state == DataJob.State.FAILED
    assert job.error == "The uploaded file is no longer available. Upload it again to import it."
    assert stored_files(company) == []


# --- housekeeping ---------------------------------------------------------------------------------------------


def age(name, days):
    old = (timezone.now() - timedelta(days=days)).timestamp()
    os.utime(default_storage.path(name), (old, old))


def test_the_sweeper_deletes_uploads_never_started_and_old_reports_only(admin, company, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    abandoned = do_upload_import_file(
        admin.company, actor=admin, uploaded=SimpleUploadedFile("a.csv", b"email\nx@example.com\n")
    )
    fresh = do_upload_import_file(
        admin.company, actor=admin, uploaded=SimpleUploadedFile("b.csv", b"email\ny@example.com\n")
    )
    age(f"{abandoned.folder}/meta.json", days=2)
    started = do_upload_import_file(
        admin.company, actor=admin, uploaded=SimpleUploadedFile("c.csv", b"email\nbroken\n")
    )
    job = do_start_import(started, actor=admin)
    age(f"{started.folder}/meta.json", days=2)
    sweep_import_files(force=True)
    assert not default_storage.exists(f"{abandoned.folder}/upload.csv")
    assert default_storage.exists(f"{fresh.folder}/upload.csv")
    assert default_storage.exists(f"{started.folder}/upload.csv")  # its import is queued: kept
    run_queued_jobs()
    report = f"{started.folder}/errors.csv"
    assert default_storage.exists(report)
    sweep_import_files(force=True)
    assert default_storage.exists(report)
    DataJob.objects.filter(pk=job.pk).update(finished_at=timezone.now() - timedelta(days=31))
    sweep_import_files(force=True)
    assert not default_storage.exists(report)
    assert stored_files(company) == sorted([f"{fresh.folder}/meta.json", f"{fresh.folder}/upload.csv"])


def test_the_sweeper_asks_the_database_once_however_many_folders_it_walks(admin, company, other_company):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def sweep_queries():
        with CaptureQueriesContext(connection) as queries:
            sweep_import_files(force=True)
        return len(queries)

    do_upload_import_file(admin.company, actor=admin, uploaded=SimpleUploadedFile("a.csv", b"email\nx@example.com\n"))
    assert sweep_queries() == 1
    for user in (admin, admin, other_company.admin):
        upload = do_upload_import_file(
            user.company, actor=user, uploaded=SimpleUploadedFile("b.csv", b"email\ny@example.com\n")
        )
    do_start_import(upload, actor=other_company.admin)
    assert sweep_queries() == 1


def test_the_sweeper_finishes_the_clean_up_of_an_import_that_ended_without_it(admin, company):
    from django.core.files.uploadedfile import SimpleUploadedFile

    started = do_upload_import_file(
        admin.company, actor=admin, uploaded=SimpleUploadedFile("c.csv", b"email\nx@example.com\n")
    )
    job = do_start_import(started, actor=admin)
    DataJob.objects.filter(pk=job.pk).update(state=DataJob.State.FAILED, finished_at=timezone.now())
    sweep_import_files(force=True)
    assert stored_files(company) == []
    job.refresh_from_db()
    assert job.result["summary"] == "Nothing was imported."
