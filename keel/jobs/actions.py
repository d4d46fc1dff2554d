"""State changes of jobs that people make (``do_*``); views, API and CLI all call these."""

from keel.audit.actions import record
from keel.jobs.access import check_can_cancel
from keel.jobs.runner import request_cancel


def do_cancel_job(user, job):
    """Cancel a queued job now, or ask a running one to stop at its next batch boundary."""
    check_can_cancel(user, job)
    job = request_cancel(job)
    record(job.company_id, user, "job.cancel_requested", job, kind=job.kind, state=job.state)
    return job
