"""Writing one batch of checked rows: contacts created or updated, tags linked, an "imported" history entry each.

The batch is written set-based (keel/contacts/imports/load.py): one query finds its existing contacts, the new ones
and all history entries go in with a few bulk statements (``COPY`` on PostgreSQL), the changed ones are updated
together. Nothing here builds a model instance per row.
"""

import json

from django.db.models import Q
from django.db.models.functions import Lower

from keel.bulk import insert_rows
from keel.contacts import history
from keel.contacts.imports import load
from keel.contacts.imports.load import UPDATABLE
from keel.contacts.models import Contact, ContactTag, Tag

DEFAULT_STAGE = Contact._meta.get_field("lifecycle_stage").get_default()


def write_batch(company_id, rows, now, event_title, event_data, *, actor=None):
    """Create or update the batch's contacts (matched by e-mail, case-insensitively), tag them, and add an
    "imported" history entry per row, written by ``actor``. Call inside the batch's transaction. Returns (rows
    created, rows updated).

    A file that names an address twice creates the contact from the first row and updates it with the next.
    """
    contacts = load.find_contacts(company_id, dict.fromkeys(row.email for row in rows))
    new, changed, created = [], {}, []
    for row in rows:
        contact = contacts.get(row.email)
        if contact is None:
            contact = {"id": None, "email": row.email, "created_at": row.created_at}
            contacts[row.email] = contact
            new.append(contact)
            created.append(True)
        else:
            created.append(False)
        if _apply(contact, row) and contact["id"] is not None:
            changed[contact["id"]] = contact
    stamp = load.db_datetime(now)
    if new:
        ids = load.insert_contacts([_contact_row(company_id, contact, stamp) for contact in new])
        for contact, pk in zip(new, ids, strict=True):
            contact["id"] = pk
    if changed:
        load.update_contacts(
            [
                (pk, *(contact.get(name, "") for name in UPDATABLE[:-1]), _custom(contact), stamp)
                for pk, contact in changed.items()
            ]
        )
    _link_tags(company_id, rows, contacts)
    title = history.entry_fields(company_id, None, "imported", event_title)["title"]
    common = json.dumps(history.entry_fields(company_id, None, "imported", title, actor=actor, data=event_data)["data"])
    tail = ", " + common[1:] if common != "{}" else "}"
    load.insert_events(
        [
            (
                company_id,
                contacts[row.email]["id"],
                "imported",
                title,
                f'{{"line": {row.line}, "created": {"true" if was_created else "false"}{tail}',
                stamp,
            )
            for row, was_created in zip(rows, created, strict=True)
        ]
    )
    new_count = sum(created)
    return new_count, len(rows) - new_count


def _contact_row(company_id, contact, stamp):
    """A new contact's database values, in the order of ``load.CONTACT_FIELDS``; fields the file left empty get
    the model's defaults."""
    get = contact.get
    return (
        company_id,
        contact["email"],
        get("first_name", ""),
        get("last_name", ""),
        get("phone", ""),
        get("company_name", ""),
        get("job_title", ""),
        get("lifecycle_stage") or DEFAULT_STAGE,
        _custom(contact),
        load.db_datetime(contact["created_at"]) if contact["created_at"] else stamp,
        stamp,
    )


def _custom(contact):
    return load.db_json(contact.get("custom_fields") or {})


def _apply(contact, row):
    changed = False
    for name, value in row.fields.items():
        if contact.get(name) != value:
            contact[name] = value
            changed = True
    if row.custom:
        current = contact.get("custom_fields") or {}
        merged = {**current, **row.custom}
        if merged != current or "custom_fields" not in contact:
            contact["custom_fields"] = merged
            changed = True
    return changed


def _link_tags(company_id, rows, contacts):
    """Tags are matched by name whatever the case, created when missing, and added (never removed)."""
    wanted = {}
    for row in rows:
        for name in row.tags:
            wanted.setdefault(name.lower(), name)
    if not wanted:
        return
    tags = _tags_named(company_id, wanted)
    missing = [Tag(company_id=company_id, name=name) for key, name in wanted.items() if key not in tags]
    if missing:
        Tag.objects.bulk_create(missing, ignore_conflicts=True)
        tags = _tags_named(company_id, wanted)
    links = {
        (contacts[row.email]["id"], tags[name.lower()]) for row in rows for name in row.tags if name.lower() in tags
    }
    insert_rows(
        ContactTag,
        [{"company_id": company_id, "contact_id": contact_id, "tag_id": tag_id} for contact_id, tag_id in links],
        ignore_conflicts=True,
    )


def _tags_named(company_id, wanted):
    """Tag ids by lower-cased name. Exact names are asked for too: SQLite's LOWER() folds ASCII letters only."""
    found = {}
    for tag_id, name in (
        Tag.objects.filter(company_id=company_id)
        .alias(key=Lower("name"))
        .filter(Q(key__in=list(wanted)) | Q(name__in=list(wanted.values())))
        .order_by("id")
        .values_list("id", "name")
    ):
        found.setdefault(name.lower(), tag_id)
    return found
