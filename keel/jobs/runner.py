"""Starting, running, finishing and reaping jobs: the one place jobs run (DESIGN §4)."""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from keel.errors import Conflict
from keel.jobs.models import DataJob
from keel.jobs.progress import JobCancelled, JobFailed, LeaseLost, Progress, WorkerStopping
from keel.jobs.registry import HANDLERS

logger = logging.getLogger("keel.jobs")

CANCELLED_MESSAGE = "Cancelled by a user."


class OperationInProgress(Conflict):
    code = "operation_in_progress"


def active_job(company, kinds):
    """The newest queued or running job of one of ``kinds`` of the company (a Company or its id), or None.

    The one way to ask "is an import / a deletion / ... going on for this company?"; e.g.
    ``active_job(company, [DataJob.Kind.CRM_DELETION])``.
    """
    return (
        DataJob.objects.filter(company=company, kind__in=kinds, state__in=DataJob.ACTIVE_STATES).order_by("-id").first()
    )


def active_exclusive_job(company):
    """The company's active job of an exclusive kind (at most one can be active): it blocks starting another."""
    return active_job(company, DataJob.EXCLUSIVE_KINDS)


def kind_label(kind):
    """``import`` → "import of contacts": a job kind as it reads in the middle of a sentence."""
    label = DataJob.Kind(kind).label
    return label[0].lower() + label[1:]


def refusal_for(active_job):
    """The error a request gets when another exclusive job of the company is active."""
    if active_job.kind == DataJob.Kind.CRM_DELETION:
        return OperationInProgress(
            "All CRM records are being deleted. Imports and contact changes are possible again once the deletion "
            "has finished.",
            code="crm_deletion_in_progress",
            job_id=active_job.pk,
        )
    if active_job.kind == DataJob.Kind.COMPANY_DELETION:
        return OperationInProgress("This company's data is being deleted.", job_id=active_job.pk)
    return OperationInProgress(
        f"Another operation is in progress: an {kind_label(active_job.kind)} (job {active_job.pk}). "
        "Wait for it to finish or cancel it.",
        job_id=active_job.pk,
    )


def create_job(company, kind, requested_by=None, params=None):
    """Create a job and enqueue it once the surrounding transaction commits.

    For exclusive kinds the database's partial unique constraint decides who wins when two requests race; the
    loser gets ``OperationInProgress`` naming the active job. Call inside ``transaction.atomic()`` when other rows
    must be created together with the job.
    """
    for _ in range(3):
        try:
            with transaction.atomic():
                job = DataJob.objects.create(
                    company=company,
                    kind=kind,
                    requested_by=requested_by,
                    params=params or {},
                    enqueued_at=timezone.now(),
                )
            break
        except IntegrityError:
            active = active_exclusive_job(company)
            if active is not None:
                raise refusal_for(active) from None
            # The job that held the slot ended between our insert and our look: the slot is free, try again.
    else:
        raise OperationInProgress("Another operation keeps starting and ending; try again in a moment.")
    # robust: a failed enqueue must not fail the request that created the job; the reaper enqueues it again.
    transaction.on_commit(lambda: enqueue(job.pk), robust=True)
    return job


def enqueue(job_id, delay_seconds=0):
    from keel.jobs.tasks import run_data_job

    task = run_data_job
    if delay_seconds:
        task = task.using(run_after=timezone.now() + timedelta(seconds=delay_seconds))
    task.enqueue(job_id)


def claim(job_id):
    """Move a queued job to running, atomically: of two workers handed the same job, one gets it."""
    now = timezone.now()
    claimed = DataJob.objects.filter(pk=job_id, state=DataJob.State.QUEUED).update(
        state=DataJob.State.RUNNING,
        attempts=F("attempts") + 1,
        started_at=Coalesce(F("started_at"), now),
        heartbeat_at=now,
        error="",
    )
    return DataJob.objects.select_related("company").get(pk=job_id) if claimed else None


def run_job(job_id):
    """Run one job to its end (or until it is cancelled, fails, or is taken over). Safe to call twice."""
    job = claim(job_id)
    if job is None:
        return None
    # Inside a transaction (a test running jobs inline) another connection cannot see the job row: no heartbeat
    # thread then; Progress.checkpoint() beats on this connection instead.
    progress = Progress(job, heartbeat=not transaction.get_connection().in_atomic_block)
    handler = HANDLERS.get(job.kind)
    if handler is None:
        logger.error("no handler is registered for %s jobs (job %s)", job.kind, job.pk)
        _finish(progress, DataJob.State.FAILED, error=f"This Keel cannot run an {kind_label(job.kind)}.")
        return DataJob.objects.filter(pk=job_id).first()
    progress.start()
    try:
        handler.run(job, progress)
    except LeaseLost:
        logger.warning("job %s was taken over by another runner; this one stops", job.pk)
        return None
    except WorkerStopping:
        progress.stop()
        logger.info("job %s goes back to the queue because its worker is stopping", job.pk)
        _requeue(job.pk, job.attempts, refund_attempt=True)
        return DataJob.objects.filter(pk=job_id).first()
    except JobCancelled:
        progress.stop()
        _finish(progress, DataJob.State.CANCELLED, error=CANCELLED_MESSAGE, result=job.result)
    except JobFailed as exc:
        progress.stop()
        _finish(progress, DataJob.State.FAILED, error=str(exc), result=job.result)
        _call_failed_hook(handler, job)
    except Exception:
        progress.stop()
        logger.exception("job %s (%s) failed on attempt %s", job.pk, job.kind, job.attempts)
        if gives_up(job):
            _finish(
                progress,
                DataJob.State.FAILED,
                error=f"The {kind_label(job.kind)} failed {job.attempts} times because of an internal error. "
                "Our team can see the details in the logs.",
                result=job.result,
            )
            _call_failed_hook(handler, job)
        else:
            _requeue(job.pk, job.attempts, delay_seconds=retry_delay(job))
    else:
        progress.stop()
        _finish(progress, DataJob.State.SUCCEEDED, result=job.result)
    finally:
        progress.stop()
    return DataJob.objects.filter(pk=job_id).first()


def gives_up(job):
    """After its last attempt a job ends failed, unless it is a deletion that must finish (MUST_FINISH_KINDS)."""
    return job.kind not in DataJob.MUST_FINISH_KINDS and job.attempts >= settings.KEEL_JOB_MAX_ATTEMPTS


def retry_delay(job):
    """Seconds before another try after an internal error: growing, and capped so a deletion keeps going."""
    return min(5 * job.attempts, 300)


def _finish(progress, state, error="", result=None):
    fields = {"state": state, "finished_at": timezone.now(), "error": error, "step": progress.step_text}
    fields["progress_total"] = progress.total
    fields["progress_done"] = progress.total if state == DataJob.State.SUCCEEDED else progress.done
    if result is not None:
        fields["result"] = result
    return progress._owned().update(**fields)


def _call_failed_hook(handler, job):
    if handler and handler.on_failed:
        try:
            handler.on_failed(DataJob.objects.get(pk=job.pk))
        except Exception:
            logger.exception("on_failed hook of job %s raised", job.pk)


def _requeue(job_id, attempt, delay_seconds=0, refund_attempt=False):
    fields = {"state": DataJob.State.QUEUED, "enqueued_at": timezone.now()}
    if refund_attempt:
        fields["attempts"] = F("attempts") - 1
    requeued = DataJob.objects.filter(pk=job_id, state=DataJob.State.RUNNING, attempts=attempt).update(**fields)
    if requeued:
        enqueue(job_id, delay_seconds)
    return requeued


def request_cancel(job):
    """Ask a job to stop: a queued one is cancelled now, a running one at its next batch boundary."""
    now = timezone.now()
    cancelled_now = DataJob.objects.filter(pk=job.pk, state=DataJob.State.QUEUED).update(
        state=DataJob.State.CANCELLED, cancel_requested=True, finished_at=now, error=CANCELLED_MESSAGE
    )
    DataJob.objects.filter(pk=job.pk, state=DataJob.State.RUNNING).update(cancel_requested=True)
    job.refresh_from_db()
    handler = HANDLERS.get(job.kind)
    if cancelled_now and handler and handler.on_cancelled:
        try:
            handler.on_cancelled(job)
        except Exception:
            logger.exception("on_cancelled hook of job %s raised", job.pk)
        job.refresh_from_db()
    return job


def reap_stale_jobs():
    """Give jobs whose runner died back to the queue (DESIGN §1: django-tasks-db has no crash recovery).

    A running job whose heartbeat is older than the lease is presumed dead: it is queued again (its handler is
    resumable), or failed once it used up its attempts. A queued job whose task was lost is enqueued again;
    a duplicate task is harmless because ``claim`` lets only one runner have the job.
    """
    from keel.jobs.tasks import has_pending_task, run_data_job

    now = timezone.now()
    stale = now - timedelta(seconds=settings.KEEL_JOB_LEASE_SECONDS)
    reaped = []
    for job in DataJob.objects.filter(state=DataJob.State.RUNNING, heartbeat_at__lt=stale):
        if gives_up(job):
            failed = DataJob.objects.filter(pk=job.pk, state=DataJob.State.RUNNING, attempts=job.attempts).update(
                state=DataJob.State.FAILED,
                finished_at=now,
                error=f"The {kind_label(job.kind)} stopped {job.attempts} times because its worker crashed or "
                "was stopped, and was given up.",
            )
            if failed:
                logger.error("job %s stopped responding %s times; it failed for good", job.pk, job.attempts)
                _call_failed_hook(HANDLERS.get(job.kind), job)
        else:
            logger.warning("job %s stopped responding; queueing it again", job.pk)
            _requeue(job.pk, job.attempts)
        reaped.append(job.pk)
    for job in DataJob.objects.filter(state=DataJob.State.QUEUED, enqueued_at__lt=stale):
        if not has_pending_task(run_data_job, job.pk):
            DataJob.objects.filter(pk=job.pk).update(enqueued_at=now)
            enqueue(job.pk)
            reaped.append(job.pk)
    return reaped
