"""Turning the contact form's fields into the dictionary the actions take, and back."""

from keel.contacts.validation import TEXT_FIELDS
from keel.errors import InvalidInput


def display_value(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def custom_fields_text(custom_fields):
    """One "name: value" line per custom field, as the form's textarea shows them."""
    return "\n".join(f"{name}: {display_value(value)}" for name, value in (custom_fields or {}).items())


def parse_custom_fields(text, original=None):
    """Read "name: value" lines. A value left as it was displayed keeps its original type (number, true/false)."""
    original = original or {}
    parsed = {}
    for number, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise InvalidInput(
                f"Line {number} of the custom fields is not “name: value”: {line.strip()[:60]}", field="custom_fields"
            )
        name, value = name.strip(), value.strip()
        if name in original and display_value(original[name]) == value:
            parsed[name] = original[name]
        else:
            parsed[name] = value
    return parsed


def contact_fields_from_post(post, original_custom_fields=None):
    fields = {name: post.get(name, "") for name in TEXT_FIELDS}
    fields["lifecycle_stage"] = post.get("lifecycle_stage", "")
    fields["custom_fields"] = parse_custom_fields(post.get("custom_fields", ""), original_custom_fields)
    return fields


def tag_names_from_text(text):
    return [name for name in (part.strip() for part in (text or "").split(",")) if name]
