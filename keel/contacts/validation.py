"""Checking and normalising what a user types into a contact: its fields, custom fields, tag names.

The actions (actions.py) and the CSV import (imports/) share these rules and limits.
"""

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from keel.contacts.models import Contact, Tag
from keel.contacts.params import MAX_ID
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
    if value is None:
        raise InvalidInput(
            f"A contact always has a lifecycle stage; it cannot be cleared. Choose one of: {', '.join(choices)}.",
            field="lifecycle_stage",
            choices=choices,
        )
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
    """Validate and normalise the given contact fields (any subset of EDITABLE_FIELDS).

    ``None`` clears a field that may be empty (a text field becomes "", custom fields {}); the lifecycle stage
    cannot be empty, so ``None`` for it is refused. Whether the contact is still identifiable (an e-mail address
    or a name) is the action's check."""
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


def clean_tag_name(name):
    name = " ".join((name or "").split())
    if not name:
        raise InvalidInput("A tag needs a name.", field="tag")
    limit = Tag._meta.get_field("name").max_length
    if len(name) > limit:
        raise InvalidInput(f"A tag name can be at most {limit} characters long.", field="tag")
    return name


def clean_tag_names(names):
    if isinstance(names, str) or not all(isinstance(name, str) for name in names):
        raise InvalidInput("Tags must be a list of names.", field="tags")
    unique = {}
    for name in names:
        cleaned = clean_tag_name(name)
        unique.setdefault(cleaned.lower(), cleaned)
    return list(unique.values())


ID_LOOKUP_CHUNK = 500  # ids per IN (...) list, within SQLite's bound-parameter limit


def ensure_contacts_exist(company, ids, outcome):
    """Raise 422 ``unknown_contacts`` naming every id of ``ids`` that is not a contact of ``company``.

    Ids of another company's contacts are reported exactly like ids that do not exist: they are not the caller's.
    An id out of a database integer's range cannot be a contact: it is reported, never sent to the database.
    ``outcome`` ends the message ("Nothing was changed.").
    """
    valid = [i for i in ids if 0 < i <= MAX_ID]
    found = set()
    for start in range(0, len(valid), ID_LOOKUP_CHUNK):
        chunk = valid[start : start + ID_LOOKUP_CHUNK]
        found.update(Contact.objects.filter(company=company, id__in=chunk).values_list("id", flat=True))
    missing = [i for i in ids if i not in found]
    if missing:
        shown = ", ".join(str(i) for i in missing[:20]) + (" …" if len(missing) > 20 else "")
        raise InvalidInput(
            f"These contacts do not exist in your company: {shown}. {outcome}",
            field="contact_ids",
            code="unknown_contacts",
            contact_ids=missing,
        )
