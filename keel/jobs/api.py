"""GET /api/v1/jobs/{id} and POST /api/v1/jobs/{id}/cancel, and the job object other endpoints return."""

from datetime import datetime

from ninja import Router, Schema
from pydantic import Field

from keel.jobs.access import visible_job
from keel.jobs.actions import do_cancel_job
from keel.jobs.models import DataJob
from keel.openapi import one_of

router = Router(tags=["jobs"])


class ProgressOut(Schema):
    """How far a job is, wherever the API reports progress (jobs, exports, deletions): use this one schema."""

    done: int = Field(ge=0)
    total: int = Field(ge=0)
    percent: int = Field(ge=0, le=100)


class JobOut(Schema):
    id: int
    kind: str = one_of(DataJob.Kind.values)
    state: str = one_of(DataJob.State.values)
    progress: ProgressOut
    step: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str
    result: dict


class JobEnvelope(Schema):
    job: JobOut


def job_out(job):
    """The API's job object: ``{"id","kind","state","progress":{"done","total","percent"},"step",...}``."""
    return {
        "id": job.pk,
        "kind": job.kind,
        "state": job.state,
        "progress": {"done": job.progress_done, "total": job.progress_total, "percent": job.percent},
        "step": job.step,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "error": job.error,
        "result": job.result or {},
    }


@router.get("/jobs/{int:job_id}", response=JobOut, summary="A job's state and progress")
def get_job(request, job_id: int):
    return job_out(visible_job(request.user, request.company, job_id))


@router.post("/jobs/{int:job_id}/cancel", response=JobOut, summary="Cancel an import")
def cancel_job(request, job_id: int):
    """A queued import is cancelled at once; a running one stops at its next batch boundary and keeps what it had
    imported. Only imports can be cancelled, by the user who started them or a Company Administrator."""
    job = visible_job(request.user, request.company, job_id)
    return job_out(do_cancel_job(request.user, job))
