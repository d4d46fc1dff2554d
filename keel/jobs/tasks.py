"""The background tasks Keel enqueues, and the question housekeeping asks about them."""

from django.tasks import task

from keel.jobs.runner import run_job


@task()
def run_data_job(job_id):
    """The only task Keel enqueues: its argument is the job id, everything else is in the job row."""
    job = run_job(job_id)
    return job.state if job else None


def has_pending_task(background_task, first_arg):
    """Whether ``background_task`` enqueued with ``first_arg`` as its first argument is still waiting for a worker.

    Housekeeping asks this before enqueueing again something whose runner seems to have died (a job, a campaign):
    a task that is merely waiting for a free worker is not a dead one.
    """
    from django_tasks_db.models import DBTaskResult

    return DBTaskResult.objects.filter(
        status="READY", task_path=background_task.module_path, args_kwargs__args__0=first_arg
    ).exists()
