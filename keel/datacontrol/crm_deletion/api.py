"""Delete all CRM records in the JSON API: start it, and follow the latest one."""

from ninja import Router, Schema, Status
from pydantic import ConfigDict, Field, StrictBool

from keel.datacontrol.crm_deletion.actions import do_start_crm_deletion
from keel.datacontrol.crm_deletion.preflight import latest_crm_deletion
from keel.errors import NotFound
from keel.jobs.api import JobEnvelope, JobOut, job_out

router = Router(tags=["deletion"])


class DeleteAllCrmIn(Schema):
    # Required and true, in the server's own words when missing or false (a 422 naming "confirm").
    model_config = ConfigDict(json_schema_extra={"required": ["confirm"]})

    confirm: StrictBool | None = Field(None, json_schema_extra={"const": True})


@router.post("/crm/delete-all", response={202: JobEnvelope}, summary="Delete all CRM records")
def delete_all_crm_records(request, payload: DeleteAllCrmIn):
    """Start deleting every contact of the company with all its data and history (a background job).

    Needs ``{"confirm": true}`` and a Company Administrator whose role allows deletion of all CRM records. Refused
    with 409 while an import (``operation_in_progress``) or another CRM deletion (``crm_deletion_in_progress``) is
    active, or while a campaign is being sent (``campaign_sending``). Follow the job at ``GET /api/v1/jobs/{id}``.
    """
    job = do_start_crm_deletion(request.company, confirm=payload.confirm, actor=request.user)
    return Status(202, {"job": job_out(job)})


@router.get("/crm/deletion", response=JobOut, summary="The latest deletion of all CRM records")
def latest_crm_records_deletion(request):
    """The company's latest CRM deletion job (running or ended), as ``GET /api/v1/jobs/{id}`` returns it, or 404 if
    there has never been one."""
    job = latest_crm_deletion(request.company)
    if job is None:
        raise NotFound("No deletion of all CRM records has been started in this company.", code="not_found")
    return job_out(job)
