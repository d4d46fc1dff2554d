"""Changes to many contacts at once: a selection (ids) or every contact matching a filter (docs/crm.md, "Bulk
actions").

Each ``do_*`` checks "Manage contacts" once, then works in batches of BATCH contacts, each batch one short
``crm_write_transaction`` (so a CRM deletion that starts meanwhile refuses the next batch, and no batch holds the
company lock for long). A filter is walked in id order with a keyset, so a batch never re-reads what an earlier
batch changed.

Deleting more than ``KEEL_BULK_DELETE_INLINE_LIMIT`` contacts is a ``contact_deletion`` job instead
(``keel.contacts.bulk_deletion``), which runs the same batches.
"""

from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max

from keel.accounts.access import require_permission
from keel.accounts.permissions import MANAGE_CONTACTS
from keel.audit.actions import record
from keel.contacts import history
from keel.contacts.actions import delete_stored_files, tag_named
from keel.contacts.guards import check_crm_writable, crm_write_transaction
from keel.contacts.listing import ContactFilter, filtered_contacts
from keel.contacts.models import Attachment, Contact, ContactTag, ListMembership
from keel.contacts.validation import clean_tag_name, ensure_contacts_exist
from keel.errors import InvalidInput
from keel.jobs.models import DataJob
from keel.jobs.tasks import create_job

BATCH = 500  # within SQLite's bound-parameter limit; a batch's transaction stays well under a second
MAX_SELECTED_IDS = 10_000


@dataclass
class Selection:
    """Either explicit contact ids of the company, or every contact matching ``contact_filter``."""

    contact_ids: list[int] = field(default_factory=list)
    contact_filter: ContactFilter | None = None

    def describe(self):
        return "matching a filter" if self.contact_filter is not None else "selected"


def selection_batches(company, selection):
    """The selected contacts' ids, BATCH at a time; explicit ids that are not the company's are refused first."""
    if selection.contact_filter is not None:
        yield from filter_batches(company, selection.contact_filter)
        return
    ids = _checked_ids(company, selection.contact_ids)
    for start in range(0, len(ids), BATCH):
        yield ids[start : start + BATCH]


def filter_batches(company, contact_filter):
    contacts = filtered_contacts(company, contact_filter)
    after = 0
    while batch := list(contacts.filter(id__gt=after).order_by("id").values_list("id", flat=True)[:BATCH]):
        after = batch[-1]
        yield batch


def _checked_ids(company, contact_ids):
    ids = list(dict.fromkeys(contact_ids or ()))
    if not ids:
        raise InvalidInput("Select at least one contact.", field="contact_ids")
    if len(ids) > MAX_SELECTED_IDS:
        raise InvalidInput(
            f"Select at most {MAX_SELECTED_IDS:,} contacts by id; use a filter for more.", field="contact_ids"
        )
    ensure_contacts_exist(company, ids, "Nothing was changed.")
    return ids


def _start(company, actor):
    require_permission(actor, MANAGE_CONTACTS)
    check_crm_writable(company)  # an early answer; every batch is guarded in its own transaction


def do_bulk_add_tag(company, selection, name, *, actor):
    """Tag the selected contacts; returns how many did not have the tag before."""
    _start(company, actor)
    name = clean_tag_name(name)
    with crm_write_transaction(company):
        tag = tag_named(company.pk, name)
    added = 0
    for batch in selection_batches(company, selection):
        with crm_write_transaction(company):
            present = set(ContactTag.objects.filter(tag=tag, contact_id__in=batch).values_list("contact_id", flat=True))
            new = [i for i in batch if i not in present]
            ContactTag.objects.bulk_create(
                [ContactTag(company=company, tag=tag, contact_id=i) for i in new], ignore_conflicts=True
            )
            added += len(new)
    record(company, actor, "contacts.bulk_tagged", tag, tag=tag.name, added=added, selection=selection.describe())
    return tag, added


def do_bulk_remove_tag(company, selection, tag, *, actor):
    """Take the tag off the selected contacts; returns how many had it (none when ``tag`` is None: no such tag)."""
    _start(company, actor)
    removed = 0
    if tag is None:
        return removed
    for batch in selection_batches(company, selection):
        with crm_write_transaction(company):
            removed += ContactTag.objects.filter(company=company, tag=tag, contact_id__in=batch).delete()[0]
    record(company, actor, "contacts.bulk_untagged", tag, tag=tag.name, removed=removed)
    return removed


def do_bulk_add_to_list(company, selection, contact_list, *, actor):
    """Add the selected contacts to a list (each gets a history entry); returns how many were not on it."""
    _start(company, actor)
    added = 0
    for batch in selection_batches(company, selection):
        with crm_write_transaction(company):
            present = set(
                ListMembership.objects.filter(contact_list=contact_list, contact_id__in=batch).values_list(
                    "contact_id", flat=True
                )
            )
            new = [i for i in batch if i not in present]
            ListMembership.objects.bulk_create(
                [ListMembership(company=company, contact_list=contact_list, contact_id=i) for i in new]
            )
            history.add_entries(company.pk, new, "list_added", f"Added to the list {contact_list.name}", actor=actor)
            added += len(new)
    record(company, actor, "contacts.bulk_added_to_list", contact_list, list=contact_list.name, added=added)
    return added


@dataclass
class BulkDeletion:
    """What ``do_bulk_delete_contacts`` did: deleted ``deleted`` contacts at once, or started ``job``."""

    deleted: int = 0
    job: DataJob | None = None


def inline_limit():
    return settings.KEEL_BULK_DELETE_INLINE_LIMIT


def do_bulk_delete_contacts(company, selection, *, actor):
    """Delete the selected contacts with everything that belongs to them, batch by batch, children first (the
    approach of keel/datacontrol/eraser.py: plain DELETE statements, never the ORM's collecting cascade).

    Up to ``KEEL_BULK_DELETE_INLINE_LIMIT`` contacts go at once, in this request; more (any number) are left to a
    ``contact_deletion`` job, which is returned (docs/crm.md, "Bulk actions")."""
    _start(company, actor)
    if _selected_up_to(company, selection, inline_limit() + 1) > inline_limit():
        return BulkDeletion(job=_start_deletion_job(company, selection, actor))
    deleted = 0
    for batch in selection_batches(company, selection):
        deleted += delete_batch(company, batch)
    record(company, actor, "contacts.bulk_deleted", None, deleted=deleted, selection=selection.describe())
    return BulkDeletion(deleted=deleted)


def _selected_up_to(company, selection, bound):
    """How many contacts the selection holds, counting no further than ``bound``."""
    if selection.contact_filter is None:
        return len(set(selection.contact_ids or ()))
    return filtered_contacts(company, selection.contact_filter).values("id")[:bound].count()


def _start_deletion_job(company, selection, actor):
    """The ``contact_deletion`` job, with the selection fixed as it is now: the explicit ids, or the filter with the
    company's highest contact id, so that a contact created after this request is never deleted (ids only grow,
    and a contact is created under the same company lock that is held here)."""
    params = {"selection": selection.describe()}
    if selection.contact_filter is None:
        params["contact_ids"] = sorted(_checked_ids(company, selection.contact_ids))
    with crm_write_transaction(company):
        if selection.contact_filter is not None:
            params["filter"] = selection.contact_filter.as_params()
            params["max_id"] = Contact.objects.filter(company=company).aggregate(top=Max("id"))["top"] or 0
        return create_job(company, DataJob.Kind.CONTACT_DELETION, requested_by=actor, params=params)


def _contact_children():
    """Every model with a foreign key to Contact: deleted before the contacts they point at."""
    return [rel.related_model for rel in Contact._meta.related_objects if rel.one_to_many]


def _delete_rows(cursor, model, column, company_id, ids):
    quote = connection.ops.quote_name
    table, column = quote(model._meta.db_table), quote(column)
    placeholders = ", ".join(["%s"] * len(ids))
    # Identifiers come from model metadata through quote_name; values are parameters.
    cursor.execute(
        f"DELETE FROM {table} WHERE {quote('company_id')} = %s AND {column} IN ({placeholders})",  # noqa: S608
        [company_id, *ids],
    )
    return max(cursor.rowcount, 0)


def delete_batch(company, contact_ids):
    """Delete these contacts of the company (ids of no contact are skipped) with everything that points at them, in
    one transaction under the CRM guard (a savepoint of the caller's, if it has one); returns how many went. Their
    stored files are removed once the transaction has committed."""
    with crm_write_transaction(company):
        attachments = Attachment.objects.filter(company=company, contact_id__in=contact_ids)
        stored = list(attachments.values_list("file", flat=True))
        with connection.cursor() as cursor:
            for model in _contact_children():
                _delete_rows(cursor, model, model._meta.get_field("contact").column, company.pk, contact_ids)
            deleted = _delete_rows(cursor, Contact, Contact._meta.pk.column, company.pk, contact_ids)
        transaction.on_commit(lambda: delete_stored_files(stored))
    return deleted
