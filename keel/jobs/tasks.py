from django.tasks import task

from keel.jobs.runner import run_job


@task()
def run_data_job(job_id):
    """The only task Keel enqueues: its argument is the job id, everything else is in the job row."""
    job = run_job(job_id)
    return job.state if job else None
