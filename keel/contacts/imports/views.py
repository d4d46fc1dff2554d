"""CRM Contacts → Import: upload a CSV, check the columns, start, follow the status bar, read the summary."""

from django.conf import settings
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse

from keel.accounts.access import company_page
from keel.accounts.permissions import IMPORT_CONTACTS
from keel.contacts.guards import crm_deletion_job
from keel.contacts.imports import columns as import_columns
from keel.contacts.imports import engine
from keel.contacts.imports.actions import do_start_import, do_upload_import_file, job_for_upload, load_upload
from keel.contacts.imports.api import error_report_response
from keel.contacts.imports.report import report_name
from keel.contacts.uploads import human_size, limit_page_uploads
from keel.errors import KeelError, NotFound
from keel.jobs.models import DataJob
from keel.jobs.registry import is_cancellable
from keel.tenancy import tenant_get


def _upload_refused(request, error):
    messages.error(request, error.message)
    return _upload_page(request, error.status)


@company_page(permission=IMPORT_CONTACTS)
@limit_page_uploads(lambda: settings.KEEL_IMPORT_MAX_BYTES, _upload_refused, refusal=engine.upload_too_large)
def upload(request):
    status = 200
    if request.method == "POST":
        try:
            stored = do_upload_import_file(
                request.company,
                request.FILES.get("file"),
                actor=request.user,
                encoding=request.POST.get("encoding") or "utf-8",
            )
        except KeelError as exc:
            messages.error(request, exc.message)
            status = exc.status
        else:
            return redirect("contact_import_mapping", token=stored.token)
    return _upload_page(request, status)


def _upload_page(request, status):
    company = request.company
    recent = DataJob.objects.filter(company=company, kind=DataJob.Kind.IMPORT).order_by("-id")[:10]
    context = {
        "deletion": crm_deletion_job(company),
        "active": next((job for job in recent if job.is_active), None),
        "recent": recent,
        "encodings": engine.ENCODINGS,
        "max_bytes": human_size(settings.KEEL_IMPORT_MAX_BYTES),
    }
    return render(request, "contacts/import.html", context, status=status)


@company_page(permission=IMPORT_CONTACTS)
def mapping(request, token):
    started = job_for_upload(request.company, token)
    if started is not None:
        return redirect("contact_import_job", job_id=started.pk)
    stored = _upload_or_404(request, token)
    columns, status = stored.detected_columns, 200
    if request.method == "POST":
        columns = [request.POST.get(f"column_{i}", "") for i in range(len(stored.header))]
        try:
            job = do_start_import(stored, actor=request.user, columns=columns)
        except KeelError as exc:
            messages.error(request, exc.message)
            status = exc.status
        else:
            return redirect("contact_import_job", job_id=job.pk)
    context = {"upload": stored, "rows": _mapping_rows(stored, columns)}
    return render(request, "contacts/import_mapping.html", context, status=status)


@company_page(permission=IMPORT_CONTACTS)
def job_page(request, job_id):
    job = tenant_get(request.company, DataJob, pk=job_id, kind=DataJob.Kind.IMPORT)
    user = request.user
    context = {
        "job": job,
        "can_cancel": job.is_active
        and is_cancellable(job.kind)
        and (user.is_company_admin or job.requested_by_id == user.pk),
        "cancel_next": reverse("contact_import_job", args=[job.pk]),
        # The report may be gone: expired, or deleted with all CRM records.
        "error_report_available": report_name(job) is not None,
    }
    return render(request, "contacts/import_job.html", context)


@company_page(permission=IMPORT_CONTACTS)
def errors(request, job_id):
    job = tenant_get(request.company, DataJob, pk=job_id, kind=DataJob.Kind.IMPORT)
    try:
        return error_report_response(job)
    except NotFound:
        raise Http404("This import has no error report.") from None


def _upload_or_404(request, token):
    try:
        return load_upload(request.company, token)
    except NotFound as exc:
        raise Http404(exc.message) from None


def _mapping_rows(stored, columns):
    """One row per column of the file: its name, sample values, and the choices with the current one."""
    rows = []
    for i, name in enumerate(stored.header):
        choices = [("", "Don't import"), *import_columns.FIELDS.items()]
        if name:
            choices.append(
                (f"{import_columns.CUSTOM}{name[: import_columns.MAX_CUSTOM_KEY_LENGTH]}", f"Custom field “{name}”")
            )
        samples = [row[i] for row in stored.meta["sample"] if i < len(row) and row[i].strip()][:3]
        rows.append({"index": i, "name": name, "samples": samples, "choices": choices, "selected": columns[i]})
    return rows
