"""The CRM Contacts page's status of a bulk deletion of contacts running in the background (a ``contact_deletion``
job): its progress bar for everyone while it runs, then its outcome, once, to the user who asked for it."""

from django import template
from django.template.loader import render_to_string

from keel.jobs.models import DataJob
from keel.jobs.runner import active_job
from keel.jobs.templatetags.jobs import finished_once

register = template.Library()

SEEN_SESSION_KEY = "contact_deletion_seen"


@register.simple_tag(takes_context=True)
def contact_deletion_status(context):
    request = context.get("request")
    user = getattr(request, "user", None)
    company = getattr(request, "company", None)
    if company is None or user is None or not user.is_authenticated:
        return ""
    running = active_job(company, [DataJob.Kind.CONTACT_DELETION])
    finished = None if running is not None else _finished_once(request, company, user)
    if running is None and finished is None:
        return ""
    return render_to_string(
        "contacts/deletion_status.html", {"running": running, "finished": finished}, request=request
    )


def _finished_once(request, company, user):
    """The user's latest bulk deletion, if it ended recently and this session has not been told yet (then it has)."""
    job = (
        DataJob.objects.filter(company=company, kind=DataJob.Kind.CONTACT_DELETION, requested_by=user)
        .order_by("-id")
        .first()
    )
    return finished_once(request, job, SEEN_SESSION_KEY)
