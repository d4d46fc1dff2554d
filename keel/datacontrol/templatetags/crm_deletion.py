from django import template
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import format_html

from keel.accounts.access import can_delete_all_crm_records
from keel.datacontrol.crm_deletion.actions import CONFIRMATION_TEXT
from keel.datacontrol.crm_deletion.preflight import latest_crm_deletion, other_record_kinds
from keel.jobs.models import DataJob
from keel.jobs.runner import active_job
from keel.jobs.templatetags.jobs import finished_once, thousands

register = template.Library()

# The "done" banner is shown once per session, and only for a recent deletion (``finished_once``).
SEEN_SESSION_KEY = "crm_deletion_seen"


register.filter("thousands", thousands)


register.simple_tag(other_record_kinds)


@register.simple_tag(takes_context=True)
def crm_deletion_panel(context):
    """Banner with the status bar while all CRM records are being deleted, and the Delete all CRM Records button
    for those allowed to see it. Rendered at the top of the CRM Contacts page."""
    request = context.get("request")
    user = getattr(request, "user", None)
    company = getattr(request, "company", None)
    if company is None or user is None or not user.is_authenticated:
        return ""
    job = latest_crm_deletion(company)
    can_delete = can_delete_all_crm_records(user)
    panel = {
        "running": job if job is not None and job.is_active else None,
        "finished": _finished_once(request, job),
        "can_delete": can_delete,
        # The server refuses a deletion during an import too; the button says so before anyone clicks.
        "blocking_import": active_job(company, [DataJob.Kind.IMPORT]) if can_delete else None,
        "confirmation_text": CONFIRMATION_TEXT,
        "export_path": reverse("export_data"),
    }
    return render_to_string("datacontrol/crm_deletion/panel.html", panel, request=request)


def _finished_once(request, job):
    """The latest deletion, if it ended recently and this session has not been told yet (then it has)."""
    if job is not None and job.state == job.State.CANCELLED:
        return None
    return finished_once(request, job, SEEN_SESSION_KEY)


NEW_CONTACT_REFUSED = "New contacts cannot be created while all CRM records are being deleted."


@register.simple_tag(takes_context=True)
def new_contact_button(context):
    """CRM Contacts' "New contact" button: disabled, with the reason, while all CRM records are being deleted (the
    server refuses the creation then too)."""
    request = context.get("request")
    company = getattr(request, "company", None)
    job = latest_crm_deletion(company) if company is not None else None
    if job is not None and job.is_active:
        return format_html(
            '<span class="button disabled new-contact-button" aria-disabled="true" title="{}" '
            'aria-describedby="new-contact-reason">New contact</span> '
            '<span class="muted disabled-reason" id="new-contact-reason">{}</span>',
            NEW_CONTACT_REFUSED,
            NEW_CONTACT_REFUSED,
        )
    return format_html('<a class="button new-contact-button" href="{}">New contact</a>', reverse("contact_create"))
