"""POST /api/v1/imports (start an import), GET /api/v1/imports (recent ones), GET .../{id}/errors (report)."""

import json

from django.conf import settings
from django.core.files.storage import default_storage
from django.http import FileResponse
from ninja import File, Form, Router, UploadedFile
from ninja.decorators import decorate_view
from ninja.responses import Status

from keel.accounts.access import require_permission
from keel.accounts.permissions import IMPORT_CONTACTS
from keel.contacts.imports import engine
from keel.contacts.imports.actions import do_import_file
from keel.contacts.imports.report import report_name
from keel.contacts.uploads import limit_api_uploads
from keel.errors import InvalidInput, NotFound
from keel.jobs.api import JobEnvelope, JobOut, job_out
from keel.jobs.models import DataJob
from keel.tenancy import tenant_get

router = Router(tags=["imports"])


def parse_mapping(raw):
    if raw is None or not raw.strip():
        return None
    try:
        mapping = json.loads(raw)
    except ValueError:
        raise InvalidInput(
            'The mapping must be JSON, for example {"Email": "email", "Company": "company"}.', field="mapping"
        ) from None
    if not isinstance(mapping, dict):
        raise InvalidInput("The mapping must be a JSON object of column names and fields.", field="mapping")
    return mapping


@router.post("/imports", response={202: JobEnvelope}, summary="Import contacts from a CSV file")
@decorate_view(limit_api_uploads(lambda: settings.KEEL_IMPORT_MAX_BYTES, refusal=engine.upload_too_large))
def start_import(
    request, file: File[UploadedFile] = None, mapping: Form[str | None] = None, encoding: Form[str] = "utf-8"
):
    """Multipart ``file`` (CSV, UTF-8 unless ``encoding`` names another), optional ``mapping`` as JSON:
    ``{"<column name>": "email" | "first_name" | "last_name" | "phone" | "company" | "job_title" |
    "lifecycle_stage" | "tags" | "custom:<name>" | null}``. Without a mapping, columns are detected by name.
    Answers 202 with the ``import`` job; follow it at /api/v1/jobs/{id}."""
    job = do_import_file(request.company, file, actor=request.user, mapping=parse_mapping(mapping), encoding=encoding)
    return Status(202, {"job": job_out(job)})


@router.get("/imports", response=list[JobOut], summary="The company's 50 most recent imports")
def list_imports(request):
    require_permission(request.user, IMPORT_CONTACTS)
    jobs = DataJob.objects.filter(company=request.company, kind=DataJob.Kind.IMPORT).order_by("-id")[:50]
    return [job_out(job) for job in jobs]


@router.get("/imports/{int:job_id}/errors", summary="An import's error report (CSV: line, problem, the row)")
def import_errors(request, job_id: int):
    require_permission(request.user, IMPORT_CONTACTS)
    job = tenant_get(request.company, DataJob, pk=job_id, kind=DataJob.Kind.IMPORT)
    return error_report_response(job)


def error_report_response(job):
    name = report_name(job)
    if name is None:
        raise NotFound("This import has no error report.", code="no_error_report")
    filename = f"import-{job.pk}-errors.csv"
    return FileResponse(
        default_storage.open(name, "rb"), as_attachment=True, filename=filename, content_type="text/csv"
    )
