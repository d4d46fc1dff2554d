"""How a job reads to people on pages: its name, who started it and when, its progress, and where to follow it.

Pages never show a bare job id: a refusal caused by another operation names that operation, its starter, its start
time and progress, and links to the page where it can be followed or stopped.
"""

import re
from datetime import timedelta

from django import template
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from keel.jobs.models import DataJob

register = template.Library()


@register.filter
def thousands(number):
    """1234567 → "1,234,567"; anything that is not a whole number is shown as it is."""
    if isinstance(number, bool) or not isinstance(number, int):
        return number
    return f"{number:,}"


def job_page(job):
    """The page where a job can be followed (and, where possible, stopped), and the link's words."""
    if job.kind == DataJob.Kind.IMPORT:
        return reverse("contact_import_job", args=[job.pk]), "View the import"
    if job.kind == DataJob.Kind.EXPORT:
        archive = getattr(job, "export_archive", None)
        anchor = f"#export-{archive.pk}" if archive is not None else ""
        return reverse("export_data") + anchor, "View the export"
    if job.kind in (DataJob.Kind.CRM_DELETION, DataJob.Kind.CONTACT_DELETION):
        return reverse("contacts"), "View the deletion's progress"
    return reverse("data_management"), "View Data Management"


def starter(job):
    if job.requested_by_id is None:
        return "the command line" if not job.params.get("requester_email") else "a former user"
    return job.requested_by.email


def job_sentence(job):
    """ "An import of contacts, started by ana@acme.example on 2025-03-01 10:04 UTC, is running: 45 % (900 of
    2,000). View the import" — as HTML, with the link."""
    label = job.get_kind_display()
    link, link_label = job_page(job)
    when = job.created_at.strftime("%Y-%m-%d %H:%M")
    state = "waiting to start" if job.state == DataJob.State.QUEUED else "running"
    progress = f"{job.percent} %"
    if job.progress_total:
        progress += f" ({job.progress_done:,} of {job.progress_total:,})"
    article = "An" if label[0].lower() in "aeiou" else "A"
    return format_html(
        '{} {}, started by {} on {} UTC, is {}: {}. <a class="job-link" href="{}">{}</a>',
        article,
        label[0].lower() + label[1:],
        starter(job),
        when,
        state,
        progress,
        link,
        link_label,
    )


register.simple_tag(job_sentence)

# "(job 12)" in a refusal's message: the message is part of the API, the page says more, without the id.
_JOB_ID = re.compile(r"\s*\(job \d+\)")


def refusal_html(exc, company):
    """A refusal's message for a page: without internal job ids, and, when another operation is the reason, with
    that operation's starter, start time, progress and link."""
    message = _JOB_ID.sub("", exc.message)
    job_id = exc.extra.get("job_id")
    job = DataJob.objects.select_related("requested_by").filter(company=company, pk=job_id).first() if job_id else None
    if job is None:
        return message
    return format_html("{} {}", message, job_sentence(job))


def page_message(exc, company):
    """What ``messages.error`` gets for a refusal: safe HTML (the link) that the messages storage keeps safe."""
    return mark_safe(refusal_html(exc, company))  # noqa: S308 - built with format_html, every value escaped


# A finished job's outcome is shown on its page for this long, once per session.
FINISHED_BANNER_FOR = timedelta(days=7)


def finished_once(request, job, session_key):
    """``job`` if it ended recently and this session has not been told yet (from now on it has), else None."""
    if job is None or not job.is_final:
        return None
    if job.finished_at and timezone.now() - job.finished_at > FINISHED_BANNER_FOR:
        return None
    if request.session.get(session_key, 0) >= job.pk:
        return None
    request.session[session_key] = job.pk
    return job
