"""State changes of contacts and their history, notes, tags, lists and attachments.

Pages, the API and the command line all call these ``do_*`` functions, so validation, the CRM-deletion guard and
the history entries are the same whichever way a change arrives. Every write runs in ``crm_write_transaction``,
with its checks: during a deletion of all CRM records the refusal comes first, whatever the input. The checks are
quick, so the transaction (and the company lock it holds) stays short.
"""

import os
from datetime import UTC

from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import get_valid_filename

from keel.audit.actions import record
from keel.contacts.guards import check_crm_writable, crm_write_transaction
from keel.contacts.lookups import SearchKey
from keel.contacts.models import (
    Attachment,
    Contact,
    ContactEvent,
    ContactList,
    ContactTag,
    ListMembership,
    Note,
    Tag,
)
from keel.errors import InvalidInput

TEXT_FIELDS = ("email", "first_name", "last_name", "phone", "company_name", "job_title")
EDITABLE_FIELDS = (*TEXT_FIELDS, "lifecycle_stage", "custom_fields")
FIELD_LABELS = {
    "email": "e-mail address",
    "first_name": "first name",
    "last_name": "last name",
    "phone": "phone number",
    "company_name": "company name",
    "job_title": "job title",
    "lifecycle_stage": "lifecycle stage",
    "custom_fields": "custom fields",
}
MAX_CUSTOM_FIELDS = 100
MAX_CUSTOM_KEY_LENGTH = 100
MAX_CUSTOM_VALUE_LENGTH = 2000
MAX_NOTE_LENGTH = 20000
MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024


# --- validation ---------------------------------------------------------------------------------------------


def _clean_text(name, value):
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidInput(f"The {FIELD_LABELS[name]} must be text.", field=name)
    value = value.strip()
    limit = Contact._meta.get_field(name).max_length
    if len(value) > limit:
        raise InvalidInput(f"The {FIELD_LABELS[name]} can be at most {limit} characters long.", field=name)
    return value


def _clean_email(value):
    value = _clean_text("email", value).lower()
    if value:
        try:
            validate_email(value)
        except ValidationError:
            raise InvalidInput(f"“{value}” is not a valid e-mail address.", field="email") from None
    return value


def _clean_stage(value):
    choices = Contact.Stage.values
    if value not in choices:
        raise InvalidInput(
            f"The lifecycle stage must be one of: {', '.join(choices)}.", field="lifecycle_stage", choices=choices
        )
    return value


def _clean_custom_fields(value):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput("Custom fields must be an object of names and values.", field="custom_fields")
    if len(value) > MAX_CUSTOM_FIELDS:
        raise InvalidInput(f"A contact can have at most {MAX_CUSTOM_FIELDS} custom fields.", field="custom_fields")
    cleaned = {}
    for key, item in value.items():
        key = str(key).strip()
        if not key or len(key) > MAX_CUSTOM_KEY_LENGTH:
            raise InvalidInput(
                f"Custom field names must be 1 to {MAX_CUSTOM_KEY_LENGTH} characters long.", field="custom_fields"
            )
        if item is not None and not isinstance(item, str | int | float | bool):
            raise InvalidInput(
                f"The custom field “{key}” must be text, a number, true/false or null.", field="custom_fields"
            )
        if isinstance(item, str) and len(item) > MAX_CUSTOM_VALUE_LENGTH:
            raise InvalidInput(
                f"The custom field “{key}” can be at most {MAX_CUSTOM_VALUE_LENGTH} characters long.",
                field="custom_fields",
            )
        cleaned[key] = item
    return cleaned


def clean_contact_fields(fields):
    """Validate and normalise the given contact fields (any subset of EDITABLE_FIELDS)."""
    cleaned = {}
    for name, value in fields.items():
        if name not in EDITABLE_FIELDS:
            raise InvalidInput(f"Contacts have no field “{name}”.", field=name)
        if name == "email":
            cleaned[name] = _clean_email(value)
        elif name == "lifecycle_stage":
            cleaned[name] = _clean_stage(value)
        elif name == "custom_fields":
            cleaned[name] = _clean_custom_fields(value)
        else:
            cleaned[name] = _clean_text(name, value)
    return cleaned


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


def do_create_contact(company, actor, fields, tags=()):
    with crm_write_transaction(company):
        cleaned = clean_contact_fields(fields)
        tag_names = _clean_tag_names(tags)
        now = timezone.now()
        contact = Contact(company=company, created_at=now, updated_at=now, **cleaned)
        _ensure_identifiable(contact)
        _ensure_email_free(contact)
        _save_checked(contact)
        _add_event(contact, "contact_created", "Contact created", actor=actor)
        for name in tag_names:
            _link_tag(contact, name)
    return contact


def do_update_contact(contact, actor, fields, tags=None):
    """Change the given fields (and, when ``tags`` is not None, set the contact's tags to exactly those)."""
    with crm_write_transaction(contact.company_id):
        cleaned = clean_contact_fields(fields)
        tag_names = None if tags is None else _clean_tag_names(tags)
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
            _add_event(contact, "contact_updated", f"Changed {labels}", actor=actor, fields=changed)
        if tag_names is not None:
            _set_tags(contact, tag_names)
    return contact


def do_delete_contact(contact, actor):
    """Delete one contact and everything that belongs to it (history, notes, links, attachments)."""
    contact_id = contact.pk
    with crm_write_transaction(contact.company_id):
        stored_files = list(Attachment.objects.filter(contact=contact).values_list("file", flat=True))
        contact.delete()
        record(contact.company_id, actor, "contact.deleted", None, contact_id=contact_id)
        transaction.on_commit(lambda: _delete_stored_files(stored_files))


def _delete_stored_files(names):
    for name in names:
        if name:
            default_storage.delete(name)


# --- history ------------------------------------------------------------------------------------------------


def _add_event(contact, kind, title, actor=None, occurred_at=None, **data):
    if actor is not None and getattr(actor, "pk", None):
        data.setdefault("by", actor.email)
    return ContactEvent.objects.create(
        company_id=contact.company_id,
        contact=contact,
        kind=kind,
        title=title[:300],
        data=data,
        occurred_at=occurred_at or timezone.now(),
    )


def do_add_event(contact, actor, kind, title, data=None, occurred_at=None):
    """Add an entry to a contact's history (a call, a meeting, a purchase, ...)."""
    with crm_write_transaction(contact.company_id):
        kind, title = _clean_event_texts(kind, title)
        if data is not None and not isinstance(data, dict):
            raise InvalidInput("The event data must be an object.", field="data")
        if occurred_at is not None and timezone.is_naive(occurred_at):
            occurred_at = timezone.make_aware(occurred_at, UTC)
        return _add_event(contact, kind, title, actor=actor, occurred_at=occurred_at, **(data or {}))


def _clean_event_texts(kind, title):
    kind = (kind or "").strip()
    title = (title or "").strip()
    if not kind or len(kind) > 40:
        raise InvalidInput("The event kind must be 1 to 40 characters long.", field="kind")
    if not title or len(title) > 300:
        raise InvalidInput("The event title must be 1 to 300 characters long.", field="title")
    return kind, title


# --- notes --------------------------------------------------------------------------------------------------


def do_add_note(contact, author, body):
    with crm_write_transaction(contact.company_id):
        body = (body or "").strip()
        if not body:
            raise InvalidInput("A note cannot be empty.", field="body")
        if len(body) > MAX_NOTE_LENGTH:
            raise InvalidInput(f"A note can be at most {MAX_NOTE_LENGTH} characters long.", field="body")
        return Note.objects.create(company_id=contact.company_id, contact=contact, author=author, body=body)


# --- tags ---------------------------------------------------------------------------------------------------


def _clean_tag_name(name):
    name = " ".join((name or "").split())
    if not name:
        raise InvalidInput("A tag needs a name.", field="tag")
    limit = Tag._meta.get_field("name").max_length
    if len(name) > limit:
        raise InvalidInput(f"A tag name can be at most {limit} characters long.", field="tag")
    return name


def _clean_tag_names(names):
    if isinstance(names, str) or not all(isinstance(name, str) for name in names):
        raise InvalidInput("Tags must be a list of names.", field="tags")
    unique = {}
    for name in names:
        cleaned = _clean_tag_name(name)
        unique.setdefault(cleaned.lower(), cleaned)
    return list(unique.values())


def _tag_named(company_id, name):
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
    tag = _tag_named(contact.company_id, name)
    ContactTag.objects.get_or_create(company_id=contact.company_id, contact=contact, tag=tag)
    return tag


def _set_tags(contact, names):
    wanted = {_tag_named(contact.company_id, name).pk for name in names}
    ContactTag.objects.filter(contact=contact).exclude(tag_id__in=wanted).delete()
    present = set(ContactTag.objects.filter(contact=contact).values_list("tag_id", flat=True))
    ContactTag.objects.bulk_create(
        ContactTag(company_id=contact.company_id, contact=contact, tag_id=tag_id) for tag_id in wanted - present
    )


def do_add_tag(contact, actor, name):
    with crm_write_transaction(contact.company_id):
        return _link_tag(contact, _clean_tag_name(name))


def do_remove_tag(contact, actor, tag):
    with crm_write_transaction(contact.company_id):
        ContactTag.objects.filter(contact=contact, tag=tag).delete()


# --- lists --------------------------------------------------------------------------------------------------


def do_create_list(company, actor, name, description=""):
    with crm_write_transaction(company):
        name = " ".join((name or "").split())
        limit = ContactList._meta.get_field("name").max_length
        if not name or len(name) > limit:
            raise InvalidInput(f"A list name must be 1 to {limit} characters long.", field="list_name")
        if ContactList.objects.filter(company=company, name__iexact=name).exists():
            raise InvalidInput(f"A list named “{name}” already exists.", field="list_name", code="list_name_taken")
        return ContactList.objects.create(company=company, name=name, description=(description or "").strip()[:300])


def do_add_to_list(contact, actor, contact_list):
    with crm_write_transaction(contact.company_id):
        membership, created = ListMembership.objects.get_or_create(
            company_id=contact.company_id, contact=contact, contact_list=contact_list
        )
        if created:
            _add_event(contact, "list_added", f"Added to the list {contact_list.name}", actor=actor)
    return membership


def do_remove_from_list(contact, actor, contact_list):
    with crm_write_transaction(contact.company_id):
        removed, _ = ListMembership.objects.filter(contact=contact, contact_list=contact_list).delete()
        if removed:
            _add_event(contact, "list_removed", f"Removed from the list {contact_list.name}", actor=actor)


# --- attachments --------------------------------------------------------------------------------------------


def clean_filename(name):
    base = os.path.basename((name or "").replace("\\", "/")).strip()
    try:
        safe = get_valid_filename(base)
    except Exception:  # Django refuses names that reduce to nothing
        safe = ""
    return safe[:200] or "attachment"


def do_add_attachment(contact, actor, uploaded):
    """Store an uploaded file under companies/<company id>/attachments/ and attach it to the contact."""
    check_crm_writable(contact.company_id)  # before storing the file; the write itself is guarded below
    if uploaded is None:
        raise InvalidInput("Choose a file to upload.", field="file")
    if uploaded.size == 0:
        raise InvalidInput("The file is empty.", field="file")
    if uploaded.size > MAX_ATTACHMENT_BYTES:
        limit_mb = MAX_ATTACHMENT_BYTES // (1024 * 1024)
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
            _add_event(contact, "attachment_added", f"Attached {filename}", actor=actor)
    except Exception:
        default_storage.delete(attachment.file.name)  # no orphan file when the row could not be written
        raise
    return attachment


def do_delete_attachment(attachment, actor):
    name = attachment.file.name
    with crm_write_transaction(attachment.company_id):
        attachment.delete()
        transaction.on_commit(lambda: _delete_stored_files([name]))
