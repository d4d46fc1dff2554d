"""The queue: creating a job enqueues the task that runs it; the worker's task runs it (``keel.jobs.runner``);
the reaper gives back to the queue what a dead worker left behind.

The task's only argument is the job id; everything else is in the job row (docs/jobs.md, "For operators").
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.tasks import task
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from keel.jobs import outbox
from keel.jobs.models import DataJob
from keel.jobs.registry import HANDLERS
from keel.jobs.runner import (
    OperationInProgress,
    active_exclusive_job,
    failed_hook,
    gives_up,
    kind_label,
    refusal_for,
    requeue,
    run_job,
)

logger = logging.getLogger("keel.jobs")


@task()
def run_data_job(job_id):
    """The only task Keel enqueues: its argument is the job id, everything else is in the job row."""
    job = run_job(job_id, enqueue=enqueue)
    return job.state if job else None


def enqueue(job_id, delay_seconds=0):
    """Put the task that runs the job in the queue, to start at once or after ``delay_seconds``."""
    background_task = run_data_job
    if delay_seconds:
        background_task = background_task.using(run_after=timezone.now() + timedelta(seconds=delay_seconds))
    background_task.enqueue(job_id)


def has_pending_task(background_task, first_arg):
    """Whether ``background_task`` enqueued with ``first_arg`` as its first argument is still waiting for a worker.

    Housekeeping asks this before enqueueing again something whose runner seems to have died (a job, a campaign):
    a task that is merely waiting for a free worker is not a dead one.
    """
    return DBTaskResult.objects.filter(
        status="READY", task_path=background_task.module_path, args_kwargs__args__0=first_arg
    ).exists()


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


def prepare_worker():
    """Load, once when a worker starts, what its jobs would otherwise load on first use: the URLconf with its map of
    names (the links in notices and e-mails) and the e-mail templates. Without this, the first job of a fresh
    worker, however small, spends about half a second importing the API and compiling templates."""
    from django.urls import get_resolver

    from keel.mail.outbox import load_templates

    get_resolver().reverse_dict  # noqa: B018 (the property loads the URLconf and builds the map of names)
    load_templates()


def reap_stale_jobs():
    """Give jobs whose runner died back to the queue: django-tasks-db has no crash recovery of its own.

    A running job whose heartbeat is older than the lease is presumed dead: it is queued again (its handler is
    resumable), or failed once it used up its attempts. A queued job whose task was lost is enqueued again;
    a duplicate task is harmless because ``claim`` lets only one runner have the job. Completion side effects a
    dead worker recorded but did not deliver are delivered (keel.jobs.outbox).
    """
    now = timezone.now()
    stale = now - timedelta(seconds=settings.KEEL_JOB_LEASE_SECONDS)
    reaped = []
    for job in DataJob.objects.filter(state=DataJob.State.RUNNING, heartbeat_at__lt=stale):
        if gives_up(job):
            with transaction.atomic():
                failed = DataJob.objects.filter(pk=job.pk, state=DataJob.State.RUNNING, attempts=job.attempts).update(
                    state=DataJob.State.FAILED,
                    finished_at=now,
                    error=f"The {kind_label(job.kind)} stopped {job.attempts} times because its worker crashed or "
                    "was stopped, and was given up.",
                )
                if failed:
                    outbox.stage(job, failed_hook(HANDLERS.get(job.kind)))
            if failed:
                logger.error("job %s stopped responding %s times; it failed for good", job.pk, job.attempts)
        else:
            logger.warning("job %s stopped responding; queueing it again", job.pk)
            if requeue(job.pk, job.attempts):
                enqueue(job.pk)
        reaped.append(job.pk)
    for job in DataJob.objects.filter(state=DataJob.State.QUEUED, enqueued_at__lt=stale):
        if not has_pending_task(run_data_job, job.pk):
            DataJob.objects.filter(pk=job.pk).update(enqueued_at=now)
            enqueue(job.pk)
            reaped.append(job.pk)
    outbox.deliver()
    return reaped
