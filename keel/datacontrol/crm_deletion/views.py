"""Pages of "Delete all CRM Records": the confirmation page (the dialog's equivalent without JavaScript) and the
counts the dialog loads when it opens."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse

from keel.accounts.access import company_page
from keel.datacontrol.crm_deletion.actions import CONFIRMATION_TEXT, PERMISSION, do_start_crm_deletion
from keel.datacontrol.crm_deletion.preflight import active_crm_deletion, crm_counts, summarize
from keel.errors import KeelError
from keel.jobs.templatetags.jobs import page_message

TEMPLATE = "datacontrol/crm_deletion/crm_deletion.html"


def confirmation_context(request):
    return {
        "confirmation_text": CONFIRMATION_TEXT,
        "export_path": reverse("export_data"),
        "summary": summarize(crm_counts(request.company)),
        "active_job": active_crm_deletion(request.company),
    }


@company_page(permission=PERMISSION, admin_only=True)
def crm_deletion(request):
    """GET: the confirmation with the counts. POST (Yes): start the deletion and go back to CRM Contacts."""
    if request.method == "POST":
        try:
            do_start_crm_deletion(request.company, actor=request.user)
        except KeelError as exc:
            messages.error(request, page_message(exc, request.company))
            return render(request, TEMPLATE, confirmation_context(request), status=exc.status)
        messages.success(request, "The deletion of all CRM records has started.")
        return redirect("contacts")
    return render(request, TEMPLATE, confirmation_context(request))


@company_page(permission=PERMISSION, admin_only=True)
def crm_deletion_counts(request):
    """What the dialog shows once opened: counting a large CRM is too slow to do on every CRM Contacts page."""
    response = render(
        request, "datacontrol/crm_deletion/counts.html", {"summary": summarize(crm_counts(request.company))}
    )
    response["Cache-Control"] = "no-store"
    return response
