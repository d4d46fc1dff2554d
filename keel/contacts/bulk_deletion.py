"""The ``contact_deletion`` job: a bulk deletion of more contacts than a request deletes at once (docs/crm.md,
"Bulk actions"). ``keel.contacts.bulk_actions.do_bulk_delete_contacts`` starts it.

The selection was fixed when the deletion was requested (the job's params): explicit contact ids, or a search and
filters with the company's highest contact id at that moment. Each batch asks again which of those contacts are
still there and still match, deletes them with ``bulk_actions.delete_batch`` (children first, one short transaction
under the CRM guard) and stores, in that same transaction, where the next batch starts and how many went. So a run
killed at any point (SIGKILL included) is resumed by the reaper after the last batch that committed, deletes every
contact once, and never touches a contact created after the request.

The audit event and the requester's notice are recorded with the job's final state (keel.jobs.outbox): audited
exactly once, told at least once, wherever the worker dies.
"""

import logging

from django.conf import settings
from django.db import transaction
from django.urls import reverse

from keel.accounts.notify import notify
from keel.audit.actions import record
from keel.contacts import bulk_actions
from keel.contacts.listing import ContactFilter, filtered_contacts
from keel.contacts.models import ContactList, Tag
from keel.errors import Conflict
from keel.jobs import outbox
from keel.jobs.models import DataJob
from keel.jobs.progress import JobFailed
from keel.jobs.registry import register

logger = logging.getLogger("keel.contacts")

AUDIT_DELETED = "contacts.bulk_deleted"
AUDIT_FAILED = "contacts.bulk_deletion_failed"


def _contacts_word(n):
    return f"{n:,} contact{'' if n == 1 else 's'}"


def stored_filter(company, params):
    """The request's search and filters, or None when a tag or list it named has been deleted since (its links
    went with it, so no contact matches any more)."""
    given = params["filter"]
    tag = contact_list = None
    if given.get("tag_id"):
        tag = Tag.objects.filter(company=company, pk=given["tag_id"]).first()
        if tag is None:
            return None
    if given.get("list_id"):
        contact_list = ContactList.objects.filter(company=company, pk=given["list_id"]).first()
        if contact_list is None:
            return None
    return ContactFilter(q=given.get("q", ""), stage=given.get("stage", ""), tag=tag, contact_list=contact_list)


def _matching(job, after=0):
    """The filter's contacts after id ``after`` and at most the request's highest id, as ids in id order; None
    when a tag or list of the filter is gone."""
    contact_filter = stored_filter(job.company, job.params)
    if contact_filter is None:
        return None
    matching = filtered_contacts(job.company, contact_filter)
    return matching.filter(id__gt=after, id__lte=job.params["max_id"]).order_by("id").values_list("id", flat=True)


def batch_size():
    """The bulk actions' batch, or ``KEEL_BATCH_SIZE`` if that is smaller."""
    return max(1, min(bulk_actions.BATCH, settings.KEEL_BATCH_SIZE))


def next_batch(job, after):
    """The next batch of selected ids after ``after``: explicit ids from the params (ids of contacts deleted
    meanwhile are skipped by the deletion itself), or the contacts that still match the filter."""
    if "contact_ids" in job.params:
        return [i for i in job.params["contact_ids"] if i > after][: batch_size()]
    ids = _matching(job, after)
    return [] if ids is None else list(ids[: batch_size()])


def count_selected(job):
    if "contact_ids" in job.params:
        return len(job.params["contact_ids"])
    ids = _matching(job)
    return 0 if ids is None else ids.count()


def run_contact_deletion(job, progress):
    """The ``contact_deletion`` job. Safe to run again from the start after a crash at any point."""
    cursor = dict(job.cursor)
    if "total" not in cursor:
        progress.step("Counting the contacts to delete")
        cursor = {"total": count_selected(job), "after": 0, "deleted": 0}
        progress.set_total(cursor["total"])
        with transaction.atomic():
            progress.commit(cursor)
    progress.set_total(cursor["total"])
    progress.set_done(cursor["deleted"])
    progress.step("Deleting contacts")
    while batch := next_batch(job, cursor["after"]):
        progress.checkpoint()
        try:
            with transaction.atomic():
                deleted = bulk_actions.delete_batch(job.company, batch)
                cursor = {**cursor, "after": batch[-1], "deleted": cursor["deleted"] + deleted}
                progress.set_done(cursor["deleted"])
                progress.commit(cursor)
        except Conflict as exc:  # the CRM guard: the company is being deleted (no other deletion can start now)
            raise JobFailed(exc.message) from None
    finish(job, progress, cursor["deleted"])


def finish(job, progress, deleted):
    summary = f"Deleted {_contacts_word(deleted)}, with their history, notes and attachments."
    progress.set_total(max(progress.total, deleted))
    progress.step("Completed")
    job.result = {"deleted": deleted, "summary": summary}
    outbox.on_completion(
        job,
        outbox.audit(
            job.company_id,
            job.requested_by,
            AUDIT_DELETED,
            job,
            deleted=deleted,
            selection=job.params.get("selection", ""),
        ),
        outbox.notice(
            job.requested_by,
            "Contacts deleted",
            f"{_contacts_word(deleted)} {'has' if deleted == 1 else 'have'} been deleted, with their history, notes "
            "and attachments.",
            reverse("contacts"),
        ),
    )
    logger.info("bulk deletion of contacts of company %s finished (job %s): %s", job.company_id, job.pk, deleted)


def contact_deletion_failed(job):
    """The job gave up: the contacts it had not reached yet are still there, and imports are possible again."""
    deleted = (job.cursor or {}).get("deleted", 0)
    record(job.company_id, job.requested_by, AUDIT_FAILED, job, error=job.error, deleted=deleted)
    notify(
        job.requested_by,
        "The deletion of contacts did not finish",
        f"The deletion of contacts stopped: {job.error} {_contacts_word(deleted)} had been deleted; the others are "
        "still there. Select them again to delete them.",
        reverse("contacts"),
    )


register(DataJob.Kind.CONTACT_DELETION, run_contact_deletion, on_failed=contact_deletion_failed)
