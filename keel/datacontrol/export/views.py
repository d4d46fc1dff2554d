"""Settings → Data Management → Export Data: start an export, watch it, download it, delete it."""

from django.contrib import messages
from django.http import FileResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from keel.accounts.access import company_page
from keel.datacontrol.backups.encryption import parse_encryption
from keel.datacontrol.backups.schedule import describe
from keel.datacontrol.export import actions as exports
from keel.datacontrol.export.scopes import SCOPES
from keel.datacontrol.labels import scope_label
from keel.datacontrol.models import BackupSchedule, ExportArchive
from keel.errors import KeelError
from keel.jobs.templatetags.jobs import page_message
from keel.tenancy import tenant_get


def _archive(request, export_id):
    return tenant_get(
        request.company,
        ExportArchive.objects.select_related("job", "company").exclude(status=ExportArchive.Status.DELETED),
        pk=export_id,
    )


def _history(company):
    rows = []
    for archive in exports.visible_exports(company)[:50]:
        rows.append({"archive": archive, "job": archive.job, "state": exports.export_state(archive)})
    return rows


def _int_or_none(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@company_page(permission=exports.EXPORT_PERMISSION, admin_only=True)
def export_data(request):
    if request.method == "POST":
        try:
            encryption = parse_encryption(
                {
                    "mode": request.POST.get("encryption_mode") or "none",
                    "recipients": request.POST.get("recipients", ""),
                    "passphrase": request.POST.get("passphrase", ""),
                }
            )
            archive = exports.do_start_export(
                request.company, request.POST.getlist("scope"), actor=request.user, encryption=encryption
            )
        except KeelError as exc:
            messages.error(request, page_message(exc, request.company))
            return redirect("export_data")
        messages.success(request, "The export has started. You can keep working; we will tell you when it is ready.")
        # Straight to the new row and its progress, which would otherwise sit below the fold.
        return redirect(f"{reverse('export_data')}?started={archive.pk}#export-{archive.pk}")
    company = request.company
    plan = company.plan
    context = {
        "scopes": [(code, scope_label(code), description) for code, description in SCOPES.items()],
        "started": _int_or_none(request.GET.get("started")),
        "plan": plan,
        "history": _history(company),
        "ttl_days": exports.export_ttl_text(),
        "schedule": BackupSchedule.objects.filter(company=company).first(),
    }
    context["schedule_summary"] = describe(context["schedule"]) if context["schedule"] else ""
    try:
        exports.ensure_plan_allows_export(company)
    except KeelError as exc:
        context["plan_refusal"] = exc.message
    else:
        context["per_day"] = exports.exports_per_day(company)
        context["left_today"] = exports.exports_left_today(company)
    return render(request, "datacontrol/export/export.html", context)


@company_page(permission=exports.EXPORT_PERMISSION, admin_only=True)
def download_export(request, export_id):
    archive = _archive(request, export_id)
    try:
        handle = exports.do_open_export_download(archive, actor=request.user)
    except KeelError as exc:
        messages.error(request, page_message(exc, request.company))
        return redirect("export_data")
    return FileResponse(
        handle,
        as_attachment=True,
        filename=exports.download_filename(archive),
        content_type=exports.download_content_type(archive),
    )


@require_POST
@company_page(permission=exports.EXPORT_PERMISSION, admin_only=True)
def delete_export(request, export_id):
    archive = _archive(request, export_id)
    exports.do_delete_export(archive, actor=request.user)
    messages.success(request, "The export was deleted.")
    return redirect("export_data")
