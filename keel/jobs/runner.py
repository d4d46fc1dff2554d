"""Running a job: claiming it, calling its handler, and ending it (succeeded, failed, cancelled) or sending it
back to the queue; cancelling; which jobs of a company are active.

This is the one place jobs run (docs/jobs.md, "States"). Putting jobs in the queue (``create_job``, ``enqueue``,
the reaper) is ``keel.jobs.tasks``, which runs jobs through here; nothing here imports it.
"""

import logging

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from keel.errors import Conflict
from keel.jobs import outbox
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
    if active_job.kind == DataJob.Kind.RESTORE:
        return OperationInProgress(
            "A restore from an export is in progress. Imports, deletions and CRM changes are possible again once it "
            "has finished.",
            job_id=active_job.pk,
        )
    if active_job.kind == DataJob.Kind.COMPANY_DELETION:
        return OperationInProgress("This company's data is being deleted.", job_id=active_job.pk)
    if active_job.kind == DataJob.Kind.CONTACT_DELETION:
        return OperationInProgress(
            f"Contacts are being deleted in the background (job {active_job.pk}). Imports, restores and other "
            "deletions can start once it has finished.",
            job_id=active_job.pk,
        )
    return OperationInProgress(
        f"Another operation is in progress: an {kind_label(active_job.kind)} (job {active_job.pk}). "
        "Wait for it to finish or cancel it.",
        job_id=active_job.pk,
    )


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


def run_job(job_id, enqueue=None):
    """Run one job to its end (or until it is cancelled, fails, or is taken over). Safe to call twice.

    Returns the job as it is now, or None when another runner has it. A job sent back to the queue (an error to
    retry, a stopping worker) is returned queued, and ``enqueue(job_id, delay_seconds)`` is called for it: the
    worker's task and the command line pass ``keel.jobs.tasks.enqueue``; without one (tests running jobs inline)
    the job waits for whoever runs it next, or for the reaper.
    """
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
        _requeue(job.pk, job.attempts, enqueue, refund_attempt=True)
        return DataJob.objects.filter(pk=job_id).first()
    except JobCancelled:
        progress.stop()
        effects = outbox.completion_effects(job)
        _finish(progress, DataJob.State.CANCELLED, error=CANCELLED_MESSAGE, result=job.result, effects=effects)
    except JobFailed as exc:
        progress.stop()
        _finish(progress, DataJob.State.FAILED, error=str(exc), result=job.result, effects=failed_hook(handler))
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
                effects=failed_hook(handler),
            )
        else:
            _requeue(job.pk, job.attempts, enqueue, delay_seconds=retry_delay(job))
    else:
        progress.stop()
        _finish(progress, DataJob.State.SUCCEEDED, result=job.result, effects=outbox.completion_effects(job))
    finally:
        progress.stop()
    return DataJob.objects.filter(pk=job_id).first()


def gives_up(job):
    """After its last attempt a job ends failed, unless it is a deletion that must finish (MUST_FINISH_KINDS)."""
    return job.kind not in DataJob.MUST_FINISH_KINDS and job.attempts >= settings.KEEL_JOB_MAX_ATTEMPTS


def retry_delay(job):
    """Seconds before another try after an internal error: growing, and capped so a deletion keeps going."""
    return min(5 * job.attempts, 300)


def _finish(progress, state, error="", result=None, effects=()):
    """The job's final state and its completion side effects, in one transaction; then the effects are delivered
    (keel.jobs.outbox). A runner that lost the job ends nothing and records nothing."""
    fields = {"state": state, "finished_at": timezone.now(), "error": error, "step": progress.step_text}
    fields["progress_total"] = progress.total
    fields["progress_done"] = progress.total if state == DataJob.State.SUCCEEDED else progress.done
    if result is not None:
        fields["result"] = result
    outbox.kill_point("before_final_state")
    with transaction.atomic():
        ended = progress._owned().update(**fields)
        if ended:
            outbox.stage(progress.job, effects)
    if ended:
        outbox.kill_point("after_final_state")
        outbox.deliver(job_id=progress.job.pk)
    return ended


def failed_hook(handler):
    """The outbox effect that runs the kind's ``on_failed`` hook once the job has ended failed (none without one)."""
    return [outbox.hook("on_failed")] if handler and handler.on_failed else []


def requeue(job_id, attempt, refund_attempt=False):
    """Give a running job (of this attempt) back to the queue. Returns whether it was; the caller enqueues it."""
    fields = {"state": DataJob.State.QUEUED, "enqueued_at": timezone.now()}
    if refund_attempt:
        fields["attempts"] = F("attempts") - 1
    return DataJob.objects.filter(pk=job_id, state=DataJob.State.RUNNING, attempts=attempt).update(**fields)


def _requeue(job_id, attempt, enqueue, delay_seconds=0, refund_attempt=False):
    if requeue(job_id, attempt, refund_attempt=refund_attempt) and enqueue is not None:
        enqueue(job_id, delay_seconds)


def request_cancel(job):
    """Ask a job to stop: a queued one is cancelled now, a running one at its next batch boundary."""
    now = timezone.now()
    handler = HANDLERS.get(job.kind)
    with transaction.atomic():
        cancelled_now = DataJob.objects.filter(pk=job.pk, state=DataJob.State.QUEUED).update(
            state=DataJob.State.CANCELLED, cancel_requested=True, finished_at=now, error=CANCELLED_MESSAGE
        )
        if cancelled_now and handler and handler.on_cancelled:
            outbox.stage(job, [outbox.hook("on_cancelled")])
    DataJob.objects.filter(pk=job.pk, state=DataJob.State.RUNNING).update(cancel_requested=True)
    if cancelled_now:
        outbox.deliver(job_id=job.pk)
    job.refresh_from_db()
    return job
