"""The CRM Contacts page's status of a bulk deletion of contacts running in the background (a ``contact_deletion``
job): its progress bar for everyone while it runs, then its outcome, once, to the user who asked for it."""

from datetime import timedelta

from django import template
from django.template.loader import render_to_string
from django.utils import timezone

from keel.jobs.models import DataJob
from keel.jobs.runner import active_job

register = template.Library()

FINISHED_BANNER_FOR = timedelta(days=7)
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
    if job is None or not job.is_final:
        return None
    if job.finished_at and timezone.now() - job.finished_at > FINISHED_BANNER_FOR:
        return None
    if request.session.get(SEEN_SESSION_KEY, 0) >= job.pk:
        return None
    request.session[SEEN_SESSION_KEY] = job.pk
    return job
