from datetime import timedelta

from django import template
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from keel.accounts.access import can_delete_all_crm_records
from keel.datacontrol.crm_deletion.actions import CONFIRMATION_TEXT
from keel.datacontrol.crm_deletion.preflight import describe, latest_crm_deletion, other_record_kinds, summarize

register = template.Library()

# The "done" banner is shown once per session, and not at all once the deletion is this old.
FINISHED_BANNER_FOR = timedelta(days=7)
SEEN_SESSION_KEY = "crm_deletion_seen"


@register.filter
def thousands(number):
    """1234567 → "1,234,567": counts of a large CRM stay readable."""
    return f"{number:,}"


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
    panel = {
        "running": job if job is not None and job.is_active else None,
        "finished": _finished_once(request, job),
        "can_delete": can_delete_all_crm_records(user),
        "confirmation_text": CONFIRMATION_TEXT,
        "export_path": reverse("export_data"),
    }
    if panel["finished"] is not None and panel["finished"].result.get("deleted"):
        panel["finished_text"] = f"Deleted {describe(summarize(panel['finished'].result['deleted']))}."
    return render_to_string("datacontrol/crm_deletion/panel.html", panel, request=request)


def _finished_once(request, job):
    """The latest deletion, if it ended recently and this session has not been told yet (then it has)."""
    if job is None or not job.is_final or job.state == job.State.CANCELLED:
        return None
    if job.finished_at and timezone.now() - job.finished_at > FINISHED_BANNER_FOR:
        return None
    if request.session.get(SEEN_SESSION_KEY, 0) >= job.pk:
        return None
    request.session[SEEN_SESSION_KEY] = job.pk
    return job
