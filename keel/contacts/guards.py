"""CRM writes are refused while all CRM records are being deleted (or the company is)."""

from keel.jobs.models import DataJob
from keel.jobs.runner import active_job, refusal_for

BLOCKING_KINDS = (DataJob.Kind.CRM_DELETION, DataJob.Kind.COMPANY_DELETION)


def crm_deletion_job(company):
    """The active deletion of all CRM records (or of the company) of a company (or company id), or None."""
    return active_job(company, BLOCKING_KINDS)


def ensure_crm_writable(company):
    """Call before creating or changing contacts or their history: raises a 409 error during a deletion."""
    job = crm_deletion_job(company)
    if job is not None:
        raise refusal_for(job)
