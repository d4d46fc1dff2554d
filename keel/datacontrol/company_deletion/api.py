"""Company deletion in the JSON API: preflight, the confirmed request, and the public status of a deletion."""

from datetime import datetime

from django.http import HttpResponse
from ninja import Field, Router, Schema, Status

from keel.accounts.access import require_company_admin
from keel.datacontrol.company_deletion.actions import PERMISSION, do_request_company_deletion
from keel.datacontrol.company_deletion.preflight import deletion_preflight
from keel.datacontrol.company_deletion.receipt import receipt_for_token, status_payload
from keel.errors import NotFound
from keel.jobs.api import JobOut, ProgressOut, job_out

router = Router(tags=["deletion"])


class BlockerOut(Schema):
    code: str
    message: str


class PreflightOut(Schema):
    blockers: list[BlockerOut]
    counts: dict[str, int]


class DeleteCompanyIn(Schema):
    company_name: str
    password: str
    code: str | None = None


class DeletionStartedOut(Schema):
    job: JobOut
    status_url: str


class DeletionStatusOut(Schema):
    state: str
    step: str = Field(description="what the deletion is doing now, as a person reads it")
    progress: ProgressOut
    seconds_left: int | None = Field(None, description="estimated seconds left, from the pace so far")
    counts: dict[str, int]
    completed_at: datetime | None
    receipt_id: str


@router.get("/company/deletion/preflight", response=PreflightOut)
def preflight(request):
    """What deleting the company would remove (rows per entity) and what blocks it now."""
    require_company_admin(request.user, PERMISSION)
    found = deletion_preflight(request.company)
    return {"blockers": [b.as_dict() for b in found["blockers"]], "counts": found["counts"]}


@router.post("/company/delete", response={202: DeletionStartedOut})
def delete_company(request, payload: DeleteCompanyIn):
    """Irreversibly delete the whole company. Needs the exact company name and the caller's password."""
    started = do_request_company_deletion(
        request.company, payload.company_name, payload.password, payload.code, actor=request.user
    )
    return Status(202, {"job": job_out(started.job), "status_url": request.build_absolute_uri(started.status_path)})


@router.get("/deletions/{token}", response=DeletionStatusOut, auth=None)
def deletion_status(request, response: HttpResponse, token: str):
    """The public status of a company deletion, for the holder of its status link. Needs no authentication."""
    response["Cache-Control"] = "no-store"
    receipt = receipt_for_token(token)
    if receipt is None:
        raise NotFound("No deletion has this status link.", code="not_found")
    return status_payload(receipt)
