"""The checks of one cell of an import row: e-mail, tags, and the columns of a Keel export's contacts.csv."""

import json
import re
from datetime import UTC, datetime

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, validate_email

from keel.contacts.imports.columns import TAG_SEPARATORS
from keel.contacts.models import Contact, Tag
from keel.contacts.validation import MAX_CUSTOM_FIELDS, MAX_CUSTOM_KEY_LENGTH
from keel.spreadsheets import ESCAPE, FORMULA_STARTS


def unescape_archive_cell(cell):
    """A Keel export put one ' before a text cell a spreadsheet would run (keel/spreadsheets.py): take it off."""
    if cell[:1] == ESCAPE and cell[1:2] and cell[1] in (*FORMULA_STARTS, ESCAPE):
        return cell[1:]
    return cell


def check_custom_fields(cell, reasons):
    """A JSON object of custom fields, as a Keel export's contacts.csv holds them."""
    try:
        fields = json.loads(cell)
    except ValueError:
        fields = None
    if not isinstance(fields, dict):
        reasons.append('The custom fields must be a JSON object, e.g. {"plan": "gold"}.')
        return {}
    if len(fields) > MAX_CUSTOM_FIELDS or any(len(key) > MAX_CUSTOM_KEY_LENGTH for key in fields):
        reasons.append(
            f"At most {MAX_CUSTOM_FIELDS} custom fields, with names of at most {MAX_CUSTOM_KEY_LENGTH} characters."
        )
    return fields


def check_created_at(cell, reasons):
    try:
        when = datetime.fromisoformat(cell)
    except ValueError:
        reasons.append(f"“{cell[:40]}” is not a date and time (use ISO 8601, e.g. 2026-03-04T05:06:07Z).")
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


MAX_EMAIL_LENGTH = Contact._meta.get_field("email").max_length
# The addresses nearly every file holds (dot-atom@host.domain.tld), matched with one compiled expression made of
# Django's own e-mail validator's parts: whatever it matches, the validator accepts too. Anything else (quoted
# local parts, address literals, a host without a dot, internationalised domains) is left to the validator.
PLAIN_EMAIL = re.compile(
    r"[-!#$%&'*+/=?^_`{}|~0-9A-Z]+(?:\.[-!#$%&'*+/=?^_`{}|~0-9A-Z]+)*@(?:"
    + EmailValidator.hostname_re
    + EmailValidator.domain_re
    + EmailValidator.tld_no_fqdn_re
    + r")\Z",
    re.IGNORECASE,
)


def check_email(cell, reasons):
    email = cell.lower()
    if not email:
        reasons.append("The e-mail address is missing (rows are matched to contacts by e-mail).")
    elif len(email) > MAX_EMAIL_LENGTH:
        reasons.append(f"The e-mail address is longer than {MAX_EMAIL_LENGTH} characters.")
    elif PLAIN_EMAIL.match(email) is None:
        try:
            validate_email(email)
        except ValidationError:
            reasons.append(f"“{cell}” is not a valid e-mail address.")
    return email


def check_tags(cell, reasons):
    limit = Tag._meta.get_field("name").max_length
    tags = {}
    for name in TAG_SEPARATORS.split(cell):
        name = " ".join(name.split())
        if not name:
            continue
        if len(name) > limit:
            reasons.append(f"The tag “{name[:20]}…” is longer than {limit} characters.")
        tags.setdefault(name.lower(), name)
    return list(tags.values())
