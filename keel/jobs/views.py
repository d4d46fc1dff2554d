"""The progress component's endpoint, and cancelling from a page."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from keel.accounts.access import company_page
from keel.errors import Forbidden, KeelError
from keel.jobs.access import visible_job
from keel.jobs.actions import do_cancel_job


def _job_for_page(request, job_id):
    try:
        return visible_job(request.user, request.company, job_id)
    except Forbidden as exc:
        raise PermissionDenied(exc.message) from None


def progress_json(job):
    return {
        "id": job.pk,
        "kind": job.kind,
        "state": job.state,
        "final": job.is_final,
        "percent": job.percent,
        "done": job.progress_done,
        "total": job.progress_total,
        "step": job.step,
        "outcome": job.outcome,
    }


@company_page()
def progress(request, job_id):
    """The progress component's inside, as an HTML fragment (what keel.js swaps in every second), or as JSON
    with ``Accept: application/json`` or ``?format=json``."""
    job = _job_for_page(request, job_id)
    if request.GET.get("format") == "json" or "application/json" in request.headers.get("Accept", ""):
        response = JsonResponse(progress_json(job))
    else:
        response = render(request, "jobs/progress_inner.html", {"job": job})
    response["X-Job-State"] = job.state
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@company_page()
def cancel(request, job_id):
    job = _job_for_page(request, job_id)
    try:
        job = do_cancel_job(request.user, job)
    except Forbidden as exc:
        raise PermissionDenied(exc.message) from None
    except KeelError as exc:
        messages.error(request, exc.message)
    else:
        if job.is_final:
            messages.success(request, "The job was cancelled.")
        else:
            messages.success(request, "The job will stop after the batch it is working on.")
    return redirect(_next_url(request))


def _next_url(request):
    target = request.POST.get("next") or request.headers.get("Referer") or "/"
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return "/"
