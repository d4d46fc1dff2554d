"""CRM writes are refused while all CRM records are being deleted (or the company is), and while a restore writes
the company's data (docs/restore.md).

A CRM write and the start of a deletion are serialised on the company's row, so that no write that was allowed can
commit after the deletion has looked at what to delete:

* a write runs in ``crm_write_transaction(company)`` (or calls ``ensure_crm_writable`` first thing inside its own
  transaction): the company row is locked, then the guard looks for an active deletion, and the lock is held until
  the write commits;
* a deletion's start locks the same row in its transaction before creating its job. It therefore waits for every
  write that passed the guard to commit (so the job deletes what they wrote), and every write that comes later
  waits for the start to commit and then sees the job and is refused.

On PostgreSQL the lock is ``SELECT ... FOR NO KEY UPDATE`` (it does not hold back inserts of other rows that merely
refer to the company); on SQLite every transaction takes the database's write lock at BEGIN (IMMEDIATE), which
already serialises writers.
"""

from contextlib import contextmanager

from django.db import transaction

from keel.accounts.models import Company
from keel.jobs.models import DataJob
from keel.jobs.runner import active_job, refusal_for

BLOCKING_KINDS = (DataJob.Kind.CRM_DELETION, DataJob.Kind.COMPANY_DELETION, DataJob.Kind.RESTORE)


def crm_deletion_job(company):
    """The active deletion of all CRM records (or of the company) of a company (or company id), or None."""
    return active_job(company, BLOCKING_KINDS)


def lock_company(company):
    """Lock the company's row (a Company or its id) until the surrounding transaction ends; returns the row, or None
    if there is no such company. Deletions start under this lock."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("The company row can be locked only inside a transaction.")
    company_id = getattr(company, "pk", company)
    return Company.objects.select_for_update(no_key=True).filter(pk=company_id).first()


def ensure_crm_writable(company):
    """Call first inside the transaction of a write to contacts or their history: locks the company's row (see
    above) and raises the 409 error of an active deletion."""
    lock_company(company)
    check_crm_writable(company)


def check_crm_writable(company):
    """Raise the 409 error of an active deletion, without a lock: an early answer before work that precedes the
    write (storing an upload, a long command). It guarantees nothing; the write itself must use
    ``ensure_crm_writable`` in its transaction."""
    job = crm_deletion_job(company)
    if job is not None:
        raise refusal_for(job)


@contextmanager
def crm_write_transaction(company):
    """``with crm_write_transaction(company):`` the transaction of a CRM write, refused during a deletion."""
    with transaction.atomic():
        ensure_crm_writable(company)
        yield
