"""The job runner: exclusivity, the state machine, retries, cancelling, leases and the reaper."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from keel.contacts.models import Contact
from keel.jobs import progress as progress_module
from keel.jobs.models import DataJob
from keel.jobs.progress import JobFailed, LeaseLost, Progress
from keel.jobs.registry import HANDLERS, JobHandler
from keel.jobs.runner import (
    OperationInProgress,
    active_exclusive_job,
    active_job,
    refusal_for,
    request_cancel,
    run_job,
)
from keel.jobs.tasks import create_job, enqueue, has_pending_task, reap_stale_jobs, run_data_job
from keel.testing import run_queued_jobs

EXPORT = DataJob.Kind.EXPORT
IMPORT = DataJob.Kind.IMPORT


@pytest.fixture
def handle(monkeypatch):
    """Install a handler for ``export`` jobs (not exclusive, so tests can start several) for one test."""
    calls = {"failed": [], "cancelled": []}

    def install(run, cancellable=True):
        monkeypatch.setitem(
            HANDLERS,
            EXPORT,
            JobHandler(
                run=run,
                on_failed=lambda job: calls["failed"].append(job.pk),
                on_cancelled=lambda job: calls["cancelled"].append(job.pk),
                cancellable=cancellable,
            ),
        )
        return calls

    return install


def tasks_for(job):
    return DBTaskResult.objects.filter(task_path="keel.jobs.tasks.run_data_job", args_kwargs__args__0=job.pk)


# --- starting ------------------------------------------------------------------------------------------------


def test_a_job_is_enqueued_with_only_its_id_once_the_transaction_commits(company, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        job = create_job(company, EXPORT, company.admin, {"scope": ["contacts"]})
        assert not tasks_for(job).exists()  # nothing is queued before the commit
    assert len(callbacks) == 1
    task = tasks_for(job).get()
    assert task.args_kwargs == {"args": [job.pk], "kwargs": {}}
    assert job.state == DataJob.State.QUEUED and job.enqueued_at is not None


def test_one_active_exclusive_job_per_company_and_the_loser_learns_which(company, other_company):
    first = create_job(company, IMPORT, company.admin)
    with pytest.raises(OperationInProgress) as refused:
        create_job(company, DataJob.Kind.COMPANY_DELETION, company.admin)
    assert refused.value.status == 409
    assert refused.value.code == "operation_in_progress"
    assert refused.value.extra == {"job_id": first.pk}
    assert "import of contacts" in refused.value.message
    # Other companies and non-exclusive kinds are not affected.
    create_job(other_company, IMPORT, other_company.admin)
    create_job(company, EXPORT, company.admin)
    create_job(company, EXPORT, company.admin)


def test_a_finished_exclusive_job_frees_the_slot(company):
    first = create_job(company, IMPORT, company.admin)
    DataJob.objects.filter(pk=first.pk).update(state=DataJob.State.SUCCEEDED)
    second = create_job(company, IMPORT, company.admin)
    assert second.pk != first.pk


def test_an_import_during_a_crm_deletion_is_refused_by_the_constraint_with_its_own_code(company):
    deletion = create_job(company, DataJob.Kind.CRM_DELETION, company.admin)
    with pytest.raises(OperationInProgress) as refused:
        create_job(company, IMPORT, company.admin)
    assert refused.value.code == "crm_deletion_in_progress"
    assert refused.value.extra == {"job_id": deletion.pk}
    assert refused.value.message.startswith("All CRM records are being deleted.")


def test_refusal_sentences_name_the_running_operation(company):
    job = DataJob(company=company, kind=DataJob.Kind.COMPANY_DELETION, pk=7)
    assert refusal_for(job).message == "This company's data is being deleted."
    job.kind = IMPORT
    assert refusal_for(job).message == (
        "Another operation is in progress: an import of contacts (job 7). Wait for it to finish or cancel it."
    )


def test_active_job_is_the_newest_queued_or_running_job_of_the_kinds_asked_for(company, other_company):
    assert active_job(company, [EXPORT]) is None
    older = create_job(company, EXPORT, company.admin)
    newer = create_job(company, EXPORT, company.admin)
    DataJob.objects.filter(pk=newer.pk).update(state=DataJob.State.RUNNING)
    create_job(other_company, IMPORT, other_company.admin)
    assert active_job(company, [EXPORT]) == newer
    assert active_job(company.pk, [EXPORT, IMPORT]) == newer  # a company id will do
    assert active_job(company, [IMPORT]) is None and active_exclusive_job(company) is None
    DataJob.objects.filter(pk=newer.pk).update(state=DataJob.State.SUCCEEDED)
    assert active_job(company, [EXPORT]) == older
    assert active_exclusive_job(other_company).kind == IMPORT


def test_has_pending_task_sees_only_a_task_still_waiting_for_a_worker(company):
    job = create_job(company, EXPORT, company.admin)
    assert not has_pending_task(run_data_job, job.pk)

    enqueue(job.pk)
    assert has_pending_task(run_data_job, job.pk)
    assert not has_pending_task(run_data_job, job.pk + 1)
    tasks_for(job).update(status="RUNNING")
    assert not has_pending_task(run_data_job, job.pk)


# --- running -------------------------------------------------------------------------------------------------


def test_a_job_that_succeeds_stores_its_result_and_full_progress(company, handle):
    def run(job, progress):
        progress.set_total(10)
        for _ in range(3):
            progress.advance(3)
            progress.step("Working")
            progress.checkpoint()
        job.result = {"summary": "Did it."}

    handle(run)
    job = create_job(company, EXPORT, company.admin)
    [done] = run_queued_jobs()
    assert done.pk == job.pk
    assert done.state == DataJob.State.SUCCEEDED
    assert (done.progress_done, done.progress_total, done.percent) == (10, 10, 100)
    assert done.result == {"summary": "Did it."}
    assert done.outcome == "Did it."
    assert done.attempts == 1 and done.started_at and done.finished_at and done.error == ""


def test_running_a_job_twice_runs_it_once(company, handle):
    runs = []
    handle(lambda job, progress: runs.append(job.pk))
    job = create_job(company, EXPORT, company.admin)
    assert run_job(job.pk).state == DataJob.State.SUCCEEDED
    assert run_job(job.pk) is None
    assert runs == [job.pk]


def test_a_permanent_failure_ends_the_job_with_the_sentence_and_calls_the_hook(company, handle):
    def run(job, progress):
        job.result = {"rows": 5}
        raise JobFailed("The file is gone.")

    calls = handle(run)
    job = create_job(company, EXPORT, company.admin)
    done = run_job(job.pk)
    assert (done.state, done.error, done.result) == (DataJob.State.FAILED, "The file is gone.", {"rows": 5})
    assert done.outcome == "The file is gone."
    assert calls["failed"] == [job.pk]


def test_an_internal_error_is_retried_then_fails_with_a_readable_error_without_the_traceback(company, handle, settings):
    settings.KEEL_JOB_MAX_ATTEMPTS = 3

    def run(job, progress):
        raise ValueError("secret internals")

    calls = handle(run)
    job = create_job(company, EXPORT, company.admin)
    first = run_job(job.pk)
    assert (first.state, first.attempts) == (DataJob.State.QUEUED, 1)  # back in the queue for another try
    run_job(job.pk)
    last = run_job(job.pk)
    assert (last.state, last.attempts) == (DataJob.State.FAILED, 3)
    assert last.error == (
        "The export of company data failed 3 times because of an internal error. "
        "Our team can see the details in the logs."
    )
    assert "secret" not in last.error and "Traceback" not in last.error
    assert calls["failed"] == [job.pk]


def test_a_job_kind_without_handler_fails_with_a_sentence(company, monkeypatch):
    monkeypatch.delitem(HANDLERS, EXPORT, raising=False)
    job = create_job(company, EXPORT, company.admin)
    done = run_job(job.pk)
    assert done.state == DataJob.State.FAILED
    assert done.error == "This Keel cannot run an export of company data."


# --- cancelling ----------------------------------------------------------------------------------------------


def test_cancelling_a_queued_job_ends_it_at_once_and_calls_the_hook(company, handle):
    calls = handle(lambda job, progress: pytest.fail("a cancelled job must not run"))
    job = create_job(company, EXPORT, company.admin)
    job = request_cancel(job)
    assert job.state == DataJob.State.CANCELLED and job.finished_at and job.cancel_requested
    assert calls["cancelled"] == [job.pk]
    assert run_queued_jobs() == []


def test_a_running_job_stops_at_its_next_batch_boundary_and_keeps_what_it_reported(company, handle):
    batches = []

    def run(job, progress):
        progress.set_total(5)
        for n in range(5):
            progress.checkpoint()
            batches.append(n)
            progress.advance(1)
            job.result = {"summary": f"{n + 1} batches done."}
            if n == 1:
                request_cancel(DataJob.objects.get(pk=job.pk))  # as another request would

    handle(run)
    job = create_job(company, EXPORT, company.admin)
    done = run_job(job.pk)
    assert batches == [0, 1]
    assert done.state == DataJob.State.CANCELLED
    assert done.error == "Cancelled by a user."
    assert done.result == {"summary": "2 batches done."}
    assert done.outcome == "Cancelled. 2 batches done."
    assert (done.progress_done, done.progress_total) == (2, 5)


# --- leases --------------------------------------------------------------------------------------------------


def test_a_runner_whose_job_was_taken_over_stops_and_rolls_its_batch_back(company, handle):
    def run(job, progress):
        # Meanwhile the reaper presumed this runner dead and another runner claimed the job (attempt 2).
        DataJob.objects.filter(pk=job.pk).update(attempts=2)
        with transaction.atomic():
            Contact.objects.create(company=company, email="lost@acme.test")
            progress.commit({"rows": 1})

    handle(run)
    job = create_job(company, EXPORT, company.admin)
    assert run_job(job.pk) is None
    job.refresh_from_db()
    assert job.state == DataJob.State.RUNNING and job.attempts == 2  # left to its new owner
    assert job.cursor == {}
    assert not Contact.objects.filter(email="lost@acme.test").exists()


def test_commit_stores_the_cursor_with_the_batch(company):
    job = create_job(company, EXPORT, company.admin)
    DataJob.objects.filter(pk=job.pk).update(state=DataJob.State.RUNNING, attempts=1)
    job.refresh_from_db()
    progress = Progress(job, heartbeat=False)
    progress.set_total(4)
    progress.set_done(2)
    with transaction.atomic():
        progress.commit({"offset": 123})
    job.refresh_from_db()
    assert (job.cursor, job.progress_done, job.progress_total) == ({"offset": 123}, 2, 4)
    DataJob.objects.filter(pk=job.pk).update(attempts=2)
    with pytest.raises(LeaseLost):
        progress.commit({"offset": 456})


def test_set_done_never_moves_the_bar_backwards(company):
    job = DataJob(company=company, kind=EXPORT, progress_done=50, progress_total=100)
    progress = Progress(job, heartbeat=False)
    progress.set_done(20)
    assert progress.done == 50


def test_a_stopping_worker_puts_its_job_back_without_using_an_attempt(company, handle):
    def run(job, progress):
        progress_module.request_worker_stop()
        progress.checkpoint()

    handle(run)
    job = create_job(company, EXPORT, company.admin)
    try:
        done = run_job(job.pk)
    finally:
        progress_module._worker_stopping.clear()
    assert (done.state, done.attempts) == (DataJob.State.QUEUED, 0)


# --- the reaper ----------------------------------------------------------------------------------------------


def running(company, attempts, heartbeat_age, kind=EXPORT):
    job = create_job(company, kind, company.admin)
    DataJob.objects.filter(pk=job.pk).update(
        state=DataJob.State.RUNNING,
        attempts=attempts,
        heartbeat_at=timezone.now() - timedelta(seconds=heartbeat_age),
    )
    return job


def test_the_reaper_requeues_a_job_whose_heartbeat_stopped(company, settings, handle):
    settings.KEEL_JOB_LEASE_SECONDS = 60
    handle(lambda job, progress: None)
    stale = running(company, attempts=1, heartbeat_age=61)
    alive = running(company, attempts=1, heartbeat_age=5)
    assert reap_stale_jobs() == [stale.pk]
    stale.refresh_from_db()
    alive.refresh_from_db()
    assert stale.state == DataJob.State.QUEUED and stale.attempts == 1
    assert tasks_for(stale).filter(status="READY").exists()
    assert alive.state == DataJob.State.RUNNING
    # And the requeued job then runs to its end.
    assert run_job(stale.pk).state == DataJob.State.SUCCEEDED


def test_the_reaper_gives_up_after_the_last_attempt(company, settings, handle):
    settings.KEEL_JOB_LEASE_SECONDS = 60
    settings.KEEL_JOB_MAX_ATTEMPTS = 3
    calls = handle(lambda job, progress: None)
    job = running(company, attempts=3, heartbeat_age=120)
    reap_stale_jobs()
    job.refresh_from_db()
    assert job.state == DataJob.State.FAILED and job.finished_at
    assert job.error == (
        "The export of company data stopped 3 times because its worker crashed or was stopped, and was given up."
    )
    assert calls["failed"] == [job.pk]


def test_the_reaper_enqueues_a_queued_job_whose_task_was_lost(company, settings):
    settings.KEEL_JOB_LEASE_SECONDS = 60
    lost = create_job(company, EXPORT, company.admin)
    waiting = create_job(company, EXPORT, company.admin)
    old = timezone.now() - timedelta(seconds=120)
    DataJob.objects.filter(pk__in=[lost.pk, waiting.pk]).update(enqueued_at=old)

    enqueue(waiting.pk)  # this one still has its task in the queue
    assert reap_stale_jobs() == [lost.pk]
    assert tasks_for(lost).filter(status="READY").count() == 1
    assert tasks_for(waiting).count() == 1


def test_progress_properties():
    job = DataJob(state=DataJob.State.RUNNING, progress_done=1, progress_total=3)
    assert (job.percent, job.is_active, job.is_final, job.outcome) == (33, True, False, "")
    job.state = DataJob.State.SUCCEEDED
    assert (job.percent, job.outcome) == (100, "Completed.")
    job.progress_total = 0
    job.state = DataJob.State.QUEUED
    assert job.percent == 0


@pytest.mark.parametrize("kind", DataJob.MUST_FINISH_KINDS)
def test_the_reaper_never_gives_up_a_deletion_so_its_lock_holds_until_it_ends(company, settings, kind):
    settings.KEEL_JOB_LEASE_SECONDS = 60
    settings.KEEL_JOB_MAX_ATTEMPTS = 3
    job = running(company, attempts=7, heartbeat_age=120, kind=kind)
    assert reap_stale_jobs() == [job.pk]
    job.refresh_from_db()
    assert job.state == DataJob.State.QUEUED and not job.finished_at
    with pytest.raises(OperationInProgress):
        create_job(company, IMPORT, company.admin)


def test_an_internal_error_in_a_deletion_is_retried_past_the_last_attempt(company, settings, monkeypatch):
    settings.KEEL_JOB_MAX_ATTEMPTS = 1

    def run(job, progress):
        raise ValueError("database went away")

    monkeypatch.setitem(HANDLERS, DataJob.Kind.CRM_DELETION, JobHandler(run=run))
    job = create_job(company, DataJob.Kind.CRM_DELETION, company.admin)
    for attempt in (1, 2):
        retried = run_job(job.pk)
        assert (retried.state, retried.attempts) == (DataJob.State.QUEUED, attempt)


def test_a_worker_prepares_the_urlconf_and_every_email_template_before_its_first_job(monkeypatch):
    from django.urls import get_resolver

    from keel.jobs.tasks import prepare_worker
    from keel.mail import outbox

    loaded = []
    monkeypatch.setattr(outbox, "get_template", lambda name: loaded.append(name))
    prepare_worker()
    assert get_resolver()._populated  # links can be reversed without loading anything more
    assert "mail/deletion_confirmation.txt" in loaded and "mail/base.html" in loaded
    assert len(loaded) == len(set(loaded)) >= 16
