"""Pages of company deletion: Settings → Data Management → Delete Company Data, and the public status page."""

from django.conf import settings
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from keel.accounts.access import company_page
from keel.datacontrol import graph
from keel.datacontrol.company_deletion.actions import PERMISSION, do_request_company_deletion, do_send_deletion_code
from keel.datacontrol.company_deletion.confirm import CODE_TTL_SECONDS
from keel.datacontrol.company_deletion.preflight import deletion_preflight, latest_export
from keel.datacontrol.company_deletion.receipt import receipt_for_token, status_payload
from keel.datacontrol.labels import entity_label
from keel.datacontrol.models import DeletionReceipt
from keel.errors import KeelError
from keel.jobs.templatetags.jobs import page_message


def _render_page(request, status=200, error=None):
    found = deletion_preflight(request.company)
    order = [graph.entity_name(m) for m in graph.tenant_models()]
    counts = [(entity_label(e), found["counts"][e]) for e in order if found["counts"].get(e)]
    context = {
        "blockers": found["blockers"],
        "counts": counts,
        "total_rows": sum(n for _, n in counts),
        "latest_export": latest_export(request.company),
        "code_required": settings.KEEL_DELETION_EMAIL_CODE,
        "typed_name": request.POST.get("company_name", "") if request.method == "POST" else "",
        "error": error,
        "error_field": error.extra.get("field") if error else None,
    }
    return render(request, "datacontrol/company_deletion/company_deletion.html", context, status=status)


@company_page(permission=PERMISSION, admin_only=True)
def delete_company(request):
    if request.method != "POST":
        return _render_page(request)
    try:
        started = do_request_company_deletion(
            request.company,
            request.POST.get("company_name", ""),
            request.POST.get("password", ""),
            request.POST.get("code", ""),
            actor=request.user,
        )
    except KeelError as exc:
        messages.error(request, page_message(exc, request.company))
        return _render_page(request, status=exc.status, error=exc)
    return redirect(started.status_path)


@require_POST
@company_page(permission=PERMISSION, admin_only=True)
def send_code(request):
    try:
        do_send_deletion_code(request.company, actor=request.user)
    except KeelError as exc:
        messages.error(request, exc.message)
    else:
        minutes = CODE_TTL_SECONDS // 60
        messages.success(
            request, f"We e-mailed a one-time code to {request.user.email}. It is valid for {minutes} minutes."
        )
    return redirect("delete_company")


def deletion_status(request, token):
    """Public: whoever holds the unguessable link sees the progress and, at the end, the system confirmation."""
    receipt = receipt_for_token(token)
    if receipt is None:
        raise Http404("No deletion has this status link.")
    status = status_payload(receipt)
    context = {
        "receipt": receipt,
        "status": status,
        "counts": [(entity_label(e), n) for e, n in sorted(receipt.rows_deleted.items())],
        "succeeded": receipt.state == DeletionReceipt.State.SUCCEEDED,
        "failed": receipt.state == DeletionReceipt.State.FAILED,
        "token": token,
    }
    response = render(request, "datacontrol/company_deletion/deletion_status.html", context)
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response
