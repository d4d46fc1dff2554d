"""Writing one batch of checked rows: contacts created or updated, tags linked, an "imported" history entry each."""

from django.db.models import Q
from django.db.models.functions import Lower

from keel.contacts import history
from keel.contacts.bulk import insert_rows, update_rows
from keel.contacts.lookups import SearchKey
from keel.contacts.models import Contact, ContactTag, Tag

UPDATABLE = ("first_name", "last_name", "phone", "company_name", "job_title", "lifecycle_stage", "custom_fields")


def write_batch(company_id, rows, now, event_title, event_data, *, actor=None):
    """Create or update the batch's contacts (matched by e-mail, case-insensitively), tag them, and add an
    "imported" history entry per row, written by ``actor``. Call inside the batch's transaction. Returns (rows
    created, rows updated).

    The rows go in with multi-row INSERT statements (keel/contacts/bulk.py).
    """
    emails = list(dict.fromkeys(row.email for row in rows))
    contacts = {
        found["email"].lower(): found
        for found in Contact.objects.filter(company_id=company_id)
        .alias(email_key=SearchKey("email"))
        .filter(email_key__in=emails)
        .values("id", "email", *UPDATABLE)
    }
    new, changed, created_rows, updated_rows = [], {}, set(), 0
    for row in rows:
        contact = contacts.get(row.email)
        if contact is None:
            contact = {"id": None, "email": row.email, "company_id": company_id, "created_at": row.created_at or now}
            contacts[row.email] = contact
            new.append(contact)
            created_rows.add(id(row))
        else:
            updated_rows += 1
        if _apply(contact, row) and contact["id"] is not None:
            changed[contact["id"]] = contact
    if new:
        for contact in new:
            contact["updated_at"] = now
        insert_rows(Contact, new)
        ids = dict(
            Contact.objects.filter(company_id=company_id, email__in=[c["email"] for c in new]).values_list(
                "email", "id"
            )
        )
        for contact in new:
            contact["id"] = ids[contact["email"]]
    if changed:
        for contact in changed.values():
            contact["updated_at"] = now
        update_rows(Contact, list(changed.values()), (*UPDATABLE, "updated_at"))
    _link_tags(company_id, rows, contacts)
    history.insert_entry_rows(
        [
            history.entry_fields(
                company_id,
                contacts[row.email]["id"],
                "imported",
                event_title,
                actor=actor,
                occurred_at=now,
                data={**event_data, "line": row.line, "created": id(row) in created_rows},
            )
            for row in rows
        ]
    )
    return len(created_rows), updated_rows


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
