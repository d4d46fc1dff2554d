"""State changes of contacts and their history, notes, tags, lists and attachments.

Pages, the API and the command line all call these ``do_*`` functions, so the permission check, validation, the
CRM-deletion guard and the history entries are the same whichever way a change arrives. Every one takes the user
making the change as ``actor`` and checks their "Manage contacts" permission. Every write runs in
``crm_write_transaction``, with its checks: during a deletion of all CRM records the refusal comes first, whatever
the input. The checks are quick, so the transaction (and the company lock it holds) stays short.
"""

import os
from datetime import UTC

from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import get_valid_filename

from keel.accounts.access import require_permission
from keel.accounts.permissions import MANAGE_CONTACTS
from keel.audit.actions import record
from keel.contacts import validation
from keel.contacts.guards import check_crm_writable, crm_write_transaction
from keel.contacts.history import AUTHOR_KEY, add_entry
from keel.contacts.lookups import SearchKey
from keel.contacts.models import Attachment, Contact, ContactList, ContactTag, ListMembership, Note, Tag
from keel.contacts.validation import (
    FIELD_LABELS,
    MAX_NOTE_LENGTH,
    clean_contact_fields,
    clean_tag_name,
    clean_tag_names,
)
from keel.errors import InvalidInput

# Keys of an event's ``data`` that a request may not set: the event's own fields, and its author (set from the actor).
RESERVED_EVENT_DATA_KEYS = ("kind", "title", AUTHOR_KEY)


def _ensure_identifiable(contact):
    if not (contact.email or contact.first_name or contact.last_name):
        raise InvalidInput("A contact needs an e-mail address or a name.", field="email")


def _ensure_email_free(contact):
    if not contact.email:
        return
    clash = (
        Contact.objects.filter(company_id=contact.company_id)
        .alias(email_key=SearchKey("email"))
        .filter(email_key=contact.email.lower())
        .exclude(pk=contact.pk)
        .values_list("pk", flat=True)
        .first()
    )
    if clash is not None:
        raise _email_taken(contact.email, clash)


def _email_taken(email, contact_id=None):
    return InvalidInput(
        f"A contact with the e-mail address {email} already exists.",
        field="email",
        code="email_taken",
        contact_id=contact_id,
    )


def _save_checked(contact, **save_kwargs):
    """Save, turning the race on the unique e-mail constraint into the same clear error as the check above."""
    try:
        with transaction.atomic():
            contact.save(**save_kwargs)
    except IntegrityError:
        raise _email_taken(contact.email) from None


# --- contacts -----------------------------------------------------------------------------------------------


def do_create_contact(company, fields, *, actor, tags=()):
    require_permission(actor, MANAGE_CONTACTS)
    with crm_write_transaction(company):
        cleaned = clean_contact_fields(fields)
        tag_names = clean_tag_names(tags)
        now = timezone.now()
        contact = Contact(company=company, created_at=now, updated_at=now, **cleaned)
        _ensure_identifiable(contact)
        _ensure_email_free(contact)
        _save_checked(contact)
        add_entry(contact, "contact_created", "Contact created", actor=actor)
        for name in tag_names:
            _link_tag(contact, name)
    return contact


def do_update_contact(contact, fields, *, actor, tags=None):
    """Change the given fields (and, when ``tags`` is not None, set the contact's tags to exactly those)."""
    require_permission(actor, MANAGE_CONTACTS)
    with crm_write_transaction(contact.company_id):
        cleaned = clean_contact_fields(fields)
        tag_names = None if tags is None else clean_tag_names(tags)
        changed = [name for name, value in cleaned.items() if getattr(contact, name) != value]
        for name in changed:
            setattr(contact, name, cleaned[name])
        _ensure_identifiable(contact)
        if "email" in changed:
            _ensure_email_free(contact)
        if changed:
            contact.updated_at = timezone.now()
            _save_checked(contact, update_fields=[*changed, "updated_at"])
            labels = ", ".join(FIELD_LABELS[name] for name in changed)
            add_entry(contact, "contact_updated", f"Changed {labels}", actor=actor, data={"fields": changed})
        if tag_names is not None:
            _set_tags(contact, tag_names)
    return contact


def do_delete_contact(contact, *, actor):
    """Delete one contact and everything that belongs to it (history, notes, links, attachments)."""
    require_permission(actor, MANAGE_CONTACTS)
    contact_id = contact.pk
    with crm_write_transaction(contact.company_id):
        stored_files = list(Attachment.objects.filter(contact=contact).values_list("file", flat=True))
        contact.delete()
        record(contact.company_id, actor, "contact.deleted", None, contact_id=contact_id)
        transaction.on_commit(lambda: delete_stored_files(stored_files))


def delete_stored_files(names):
    for name in names:
        if name:
            default_storage.delete(name)


# --- history ------------------------------------------------------------------------------------------------


def do_add_event(contact, kind, title, *, actor, data=None, occurred_at=None):
    """Add an entry to a contact's history (a call, a meeting, a purchase, ...), written by ``actor``."""
    require_permission(actor, MANAGE_CONTACTS)
    with crm_write_transaction(contact.company_id):
        kind, title = _clean_event_texts(kind, title)
        _check_event_data(data)
        if occurred_at is not None and timezone.is_naive(occurred_at):
            occurred_at = timezone.make_aware(occurred_at, UTC)
        return add_entry(contact, kind, title, actor=actor, occurred_at=occurred_at, data=data)


def _clean_event_texts(kind, title):
    kind = (kind or "").strip()
    title = (title or "").strip()
    if not kind or len(kind) > 40:
        raise InvalidInput("The event kind must be 1 to 40 characters long.", field="kind")
    if not title or len(title) > 300:
        raise InvalidInput("The event title must be 1 to 300 characters long.", field="title")
    return kind, title


def _check_event_data(data):
    if data is not None and not isinstance(data, dict):
        raise InvalidInput("The event data must be an object.", field="data")
    reserved = [key for key in RESERVED_EVENT_DATA_KEYS if key in (data or {})]
    if reserved:
        raise InvalidInput(
            f"The event data cannot contain the key “{reserved[0]}”: an event's kind and title are fields of their "
            "own, and its author (“by”) is the user who adds it.",
            field=f"data.{reserved[0]}",
        )


# --- notes --------------------------------------------------------------------------------------------------


def do_add_note(contact, body, *, actor):
    require_permission(actor, MANAGE_CONTACTS)
    with crm_write_transaction(contact.company_id):
        body = (body or "").strip()
        if not body:
            raise InvalidInput("A note cannot be empty.", field="body")
        if len(body) > MAX_NOTE_LENGTH:
            raise InvalidInput(f"A note can be at most {MAX_NOTE_LENGTH} characters long.", field="body")
        return Note.objects.create(company_id=contact.company_id, contact=contact, author=actor, body=body)


# --- tags ---------------------------------------------------------------------------------------------------


def tag_named(company_id, name):
    """The company's tag of that name, whatever its case, created when missing."""
    tag = Tag.objects.filter(company_id=company_id, name__iexact=name).first()
    if tag is None:
        try:
            with transaction.atomic():
                tag = Tag.objects.create(company_id=company_id, name=name)
        except IntegrityError:  # created by a concurrent request
            tag = Tag.objects.get(company_id=company_id, name=name)
    return tag


def _link_tag(contact, name):
    tag = tag_named(contact.company_id, name)
    ContactTag.objects.get_or_create(company_id=contact.company_id, contact=contact, tag=tag)
    return tag


def _set_tags(contact, names):
    wanted = {tag_named(contact.company_id, name).pk for name in names}
    ContactTag.objects.filter(contact=contact).exclude(tag_id__in=wanted).delete()
    present = set(ContactTag.objects.filter(contact=contact).values_list("tag_id", flat=True))
    ContactTag.objects.bulk_create(
        ContactTag(company_id=contact.company_id, contact=contact, tag_id=tag_id) for tag_id in wanted - present
    )


def do_add_tag(contact, name, *, actor):
    require_permission(actor, MANAGE_CONTACTS)
    with crm_write_transaction(contact.company_id):
        return _link_tag(contact, clean_tag_name(name))


def do_remove_tag(contact, tag, *, actor):
    require_permission(actor, MANAGE_CONTACTS)
    with crm_write_transaction(contact.company_id):
        ContactTag.objects.filter(contact=contact, tag=tag).delete()


# --- lists --------------------------------------------------------------------------------------------------


def _clean_list_name(company, name, exclude_id=None):
    name = " ".join((name or "").split())
    limit = ContactList._meta.get_field("name").max_length
    if not name or len(name) > limit:
        raise InvalidInput(f"A list name must be 1 to {limit} characters long.", field="list_name")
    if ContactList.objects.filter(company=company, name__iexact=name).exclude(pk=exclude_id).exists():
        raise InvalidInput(f"A list named “{name}” already exists.", field="list_name", code="list_name_taken")
    return name


def do_create_list(company, name, *, actor, description=""):
    require_permission(actor, MANAGE_CONTACTS)
    with crm_write_transaction(company):
        name = _clean_list_name(company, name)
        return ContactList.objects.create(company=company, name=name, description=(description or "").strip()[:300])


def do_rename_list(contact_list, name, *, actor):
    require_permission(actor, MANAGE_CONTACTS)
    with crm_write_transaction(contact_list.company_id):
        old_name = contact_list.name
        contact_list.name = _clean_list_name(contact_list.company_id, name, exclude_id=contact_list.pk)
        contact_list.save(update_fields=["name"])
        record(contact_list.company_id, actor, "list.renamed", contact_list, old_name=old_name, name=contact_list.name)
    return contact_list


def do_delete_list(contact_list, *, actor):
    """Delete a list; its contacts stay (only their memberships go), in batches of short transactions."""
    require_permission(actor, MANAGE_CONTACTS)
    while True:
        with crm_write_transaction(contact_list.company_id):
            batch = list(ListMembership.objects.filter(contact_list=contact_list).values_list("id", flat=True)[:2000])
            if not batch:
                contact_list.delete()
                record(contact_list.company_id, actor, "list.deleted", None, list=contact_list.name)
                return
            ListMembership.objects.filter(id__in=batch).delete()


def do_add_to_list(contact, contact_list, *, actor):
    require_permission(actor, MANAGE_CONTACTS)
    with crm_write_transaction(contact.company_id):
        membership, created = ListMembership.objects.get_or_create(
            company_id=contact.company_id, contact=contact, contact_list=contact_list
        )
        if created:
            add_entry(contact, "list_added", f"Added to the list {contact_list.name}", actor=actor)
    return membership


def do_remove_from_list(contact, contact_list, *, actor):
    require_permission(actor, MANAGE_CONTACTS)
    with crm_write_transaction(contact.company_id):
        removed, _ = ListMembership.objects.filter(contact=contact, contact_list=contact_list).delete()
        if removed:
            add_entry(contact, "list_removed", f"Removed from the list {contact_list.name}", actor=actor)


# --- attachments --------------------------------------------------------------------------------------------


def clean_filename(name):
    base = os.path.basename((name or "").replace("\\", "/")).strip()
    try:
        safe = get_valid_filename(base)
    except Exception:  # Django refuses names that reduce to nothing
        safe = ""
    return safe[:200] or "attachment"


def do_add_attachment(contact, uploaded, *, actor):
    """Store an uploaded file under companies/<company id>/attachments/ and attach it to the contact."""
    require_permission(actor, MANAGE_CONTACTS)
    check_crm_writable(contact.company_id)  # before storing the file; the write itself is guarded below
    if uploaded is None:
        raise InvalidInput("Choose a file to upload.", field="file")
    if uploaded.size == 0:
        raise InvalidInput("The file is empty.", field="file")
    if uploaded.size > validation.MAX_ATTACHMENT_BYTES:
        limit_mb = validation.MAX_ATTACHMENT_BYTES // (1024 * 1024)
        raise InvalidInput(f"Attachments can be at most {limit_mb} MB.", field="file")
    filename = clean_filename(uploaded.name)
    attachment = Attachment(
        company_id=contact.company_id,
        contact=contact,
        filename=filename,
        content_type=(getattr(uploaded, "content_type", "") or "")[:120],
        size=uploaded.size,
        uploaded_by=actor,
    )
    attachment.file.save(filename, uploaded, save=False)
    try:
        # A deletion that started while the file was being stored refuses this, and the file is deleted below.
        with crm_write_transaction(contact.company_id):
            attachment.save()
            add_entry(contact, "attachment_added", f"Attached {filename}", actor=actor)
    except Exception:
        default_storage.delete(attachment.file.name)  # no orphan file when the row could not be written
        raise
    return attachment


def do_delete_attachment(attachment, *, actor):
    require_permission(actor, MANAGE_CONTACTS)
    name = attachment.file.name
    with crm_write_transaction(attachment.company_id):
        attachment.delete()
        transaction.on_commit(lambda: delete_stored_files([name]))
