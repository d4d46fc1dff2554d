"""Who may see and cancel a job. The API, the progress endpoint and the pages all ask here."""

from django.shortcuts import get_object_or_404

from keel.errors import Conflict, Forbidden
from keel.jobs.models import DataJob
from keel.jobs.registry import is_cancellable


def can_view_job(user, job):
    """The requester and Company Administrators see every job; importers see imports; everyone of the company
    sees a CRM deletion and a deletion of contacts, because their banner and status bar are on the CRM Contacts page
    for all users."""
    if job.company_id != user.company_id:
        return False
    if user.is_company_admin or job.requested_by_id == user.pk:
        return True
    if job.kind == DataJob.Kind.IMPORT:
        return user.has_perm_code("import_contacts")
    return job.kind in (DataJob.Kind.CRM_DELETION, DataJob.Kind.CONTACT_DELETION)


def visible_job(user, company, job_id):
    """The job, if it is the company's (else 404) and the user may see it (else 403)."""
    job = get_object_or_404(DataJob.objects.select_related("requested_by"), company=company, pk=job_id)
    if not can_view_job(user, job):
        raise Forbidden("Your role does not allow you to see this job.")
    return job


def check_can_cancel(user, job):
    """Only the user who started a job or a Company Administrator may cancel it, and only cancellable kinds."""
    if not (user.is_company_admin or job.requested_by_id == user.pk):
        raise Forbidden("Only the user who started this job or a Company Administrator can cancel it.")
    if not is_cancellable(job.kind):
        raise Conflict(f"{DataJob.Kind(job.kind).label} cannot be cancelled once started.", code="not_cancellable")
    if job.is_final:
        raise Conflict(f"This job has already ended ({job.state}).", code="job_finished", state=job.state)
