"""The one module that writes contact history (``ContactEvent`` rows).

Every history entry Keel writes goes through ``entry_fields``: a contact change, a note of the API, an import, a
campaign sent, a workflow enrollment, the demo data. Who wrote an entry (``data["by"]``) is always set here from
the actor, never taken from the caller's ``data``: a request body cannot claim to be someone else.
"""

from django.utils import timezone

from keel.contacts.models import ContactEvent

AUTHOR_KEY = "by"
MAX_TITLE_LENGTH = 300
BULK_BATCH = 1000


def entry_fields(company_id, contact_id, kind, title, *, actor=None, occurred_at=None, data=None):
    """The column values of one history entry. ``actor`` is the user who made the change (None for Keel itself:
    a campaign's sending, the demo data); their e-mail address becomes the entry's author."""
    data = {key: value for key, value in (data or {}).items() if key != AUTHOR_KEY}
    if actor is not None and getattr(actor, "pk", None):
        data[AUTHOR_KEY] = actor.email
    return {
        "company_id": company_id,
        "contact_id": contact_id,
        "kind": kind,
        "title": title[:MAX_TITLE_LENGTH],
        "data": data,
        "occurred_at": occurred_at or timezone.now(),
    }


def add_entry(contact, kind, title, *, actor=None, occurred_at=None, data=None):
    """Write one entry to a contact's history and return it."""
    return ContactEvent.objects.create(
        **entry_fields(contact.company_id, contact.pk, kind, title, actor=actor, occurred_at=occurred_at, data=data)
    )


def build_entry(company_id, contact_id, kind, title, *, actor=None, occurred_at=None, data=None):
    """An unsaved entry, for ``write_entries``: entries that differ per contact (the demo data)."""
    return ContactEvent(
        **entry_fields(company_id, contact_id, kind, title, actor=actor, occurred_at=occurred_at, data=data)
    )


def write_entries(entries):
    """Write unsaved entries made by ``build_entry`` with multi-row inserts."""
    ContactEvent.objects.bulk_create(entries, batch_size=BULK_BATCH)


def add_entries(company_id, contact_ids, kind, title, *, actor=None, occurred_at=None, data=None):
    """The same entry in the history of many contacts (a campaign sent, a workflow enrollment)."""
    occurred_at = occurred_at or timezone.now()
    write_entries(
        [
            build_entry(company_id, contact_id, kind, title, actor=actor, occurred_at=occurred_at, data=data)
            for contact_id in contact_ids
        ]
    )
