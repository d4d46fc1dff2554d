"""Pages of "Delete all CRM Records": the confirmation page (the dialog's equivalent without JavaScript) and the
counts the dialog loads when it opens."""

from django.contrib import messages
from django.shortcuts import redirect, render

from keel.accounts.access import company_page
from keel.datacontrol.crm_deletion import (
    CONFIRMATION_TEXT,
    CONTACTS_PATH,
    EXPORT_PATH,
    PERMISSION,
    active_crm_deletion,
    crm_counts,
    do_start_crm_deletion,
    summarize,
)
from keel.errors import KeelError


def confirmation_context(request):
    return {
        "confirmation_text": CONFIRMATION_TEXT,
        "export_path": EXPORT_PATH,
        "summary": summarize(crm_counts(request.company)),
        "active_job": active_crm_deletion(request.company),
    }


@company_page(permission=PERMISSION, admin_only=True)
def crm_deletion(request):
    """GET: the confirmation with the counts. POST (Yes): start the deletion and go back to CRM Contacts."""
    if request.method == "POST":
        try:
            do_start_crm_deletion(request.user)
        except KeelError as exc:
            messages.error(request, exc.message)
            return render(request, "datacontrol/crm_deletion.html", confirmation_context(request), status=exc.status)
        messages.success(request, "The deletion of all CRM records has started.")
        return redirect(CONTACTS_PATH)
    return render(request, "datacontrol/crm_deletion.html", confirmation_context(request))


@company_page(permission=PERMISSION, admin_only=True)
def crm_deletion_counts(request):
    """What the dialog shows once opened: counting a large CRM is too slow to do on every CRM Contacts page."""
    response = render(
        request, "datacontrol/crm_deletion_counts.html", {"summary": summarize(crm_counts(request.company))}
    )
    response["Cache-Control"] = "no-store"
    return response
