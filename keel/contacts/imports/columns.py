"""What a CSV column can become: the contact fields, the header spellings detected, and the checks of a mapping."""

import re

from keel.contacts.validation import MAX_CUSTOM_FIELDS, MAX_CUSTOM_KEY_LENGTH
from keel.errors import InvalidInput

FIELDS = {
    "email": "E-mail",
    "first_name": "First name",
    "last_name": "Last name",
    "phone": "Phone",
    "company": "Company",
    "job_title": "Job title",
    "lifecycle_stage": "Lifecycle stage",
    "tags": "Tags",
    "custom_fields": "Custom fields (a JSON object)",
    "created_at": "Created at",
}
MODEL_FIELDS = {"company": "company_name"}  # import field → Contact field, where the names differ
TEXT_FIELDS = ("first_name", "last_name", "phone", "company", "job_title")
CUSTOM = "custom:"
IGNORE = ""
MAX_COLUMNS = 200
TAG_SEPARATORS = re.compile(r"[;,]")


# Header spellings recognised per field (compared lower-cased, letters and digits only).
SYNONYMS = {
    "email": {"email", "emailaddress", "mail", "workemail", "primaryemail", "emailadresse", "courriel"},
    "first_name": {"firstname", "first", "givenname", "forename", "vorname", "prenom"},
    "last_name": {"lastname", "last", "surname", "familyname", "nachname", "nom"},
    "phone": {"phone", "phonenumber", "telephone", "tel", "mobile", "mobilephone", "cell", "cellphone", "telefon"},
    "company": {"company", "companyname", "organization", "organisation", "org", "employer", "account", "firma"},
    "job_title": {"jobtitle", "title", "position", "role", "jobposition"},
    "lifecycle_stage": {"lifecyclestage", "stage", "lifecycle"},
    "tags": {"tags", "tag", "labels", "label"},
    # A Keel export's contacts.csv: its custom fields as one JSON object, and when each contact was created.
    "custom_fields": {"customfields"},
    "created_at": {"createdat", "created", "createdon", "datecreated", "createdate"},
}
# Columns not imported unless the user maps them: another system's ids and times of last change (a Keel export's
# contacts.csv has both) mean nothing here, and would otherwise become junk custom fields.
IGNORED_BY_DEFAULT = {"id", "updatedat", "modifiedat", "lastmodified"}


def field_label(target):
    if target.startswith(CUSTOM):
        return f"custom field “{target[len(CUSTOM) :]}”"
    return FIELDS.get(target, "nothing")


def _normalise(header):
    return re.sub(r"[^a-z0-9]", "", header.lower())


def detect_columns(header):
    """The field each column imports into: a known field when its name says so, else a custom field of that name
    (nothing is dropped unless the user says so); a column without a name is not imported."""
    columns, used = [], set()
    for name in header:
        key = _normalise(name)
        if key in IGNORED_BY_DEFAULT:
            columns.append(IGNORE)
            continue
        target = next((f for f, spellings in SYNONYMS.items() if key in spellings), None)
        if target is None or target in used:
            cleaned = name.strip()[:MAX_CUSTOM_KEY_LENGTH]
            target = f"{CUSTOM}{cleaned}" if cleaned else IGNORE
        if target in used:
            target = IGNORE
        used.add(target)
        columns.append(target)
    return columns


def columns_from_mapping(header, mapping):
    """Turn the API's ``{"<column name>": "<field>"}`` into one target per column. Columns not named are not
    imported: a mapping that is given is complete."""
    if not isinstance(mapping, dict):
        raise InvalidInput("The mapping must be an object of column names and fields.", field="mapping")
    columns = [IGNORE] * len(header)
    for name, target in mapping.items():
        positions = [i for i, column in enumerate(header) if column.strip() == str(name).strip()]
        if not positions:
            raise InvalidInput(f"The file has no column named “{name}”.", field="mapping", code="unknown_column")
        if len(positions) > 1:
            raise InvalidInput(
                f"The file has {len(positions)} columns named “{name}”; give each column a different name.",
                field="mapping",
                code="ambiguous_column",
            )
        if target is not None and not isinstance(target, str):
            raise InvalidInput(f"The field for “{name}” must be text.", field="mapping")
        columns[positions[0]] = (target or IGNORE).strip()
    return check_columns(header, columns)


def check_columns(header, columns):
    """Every target known, none twice, and e-mail among them (rows are matched to contacts by e-mail)."""
    if len(columns) != len(header):
        raise InvalidInput("Choose a field (or “Don't import”) for every column.", field="mapping")
    seen = {}
    for name, target in zip(header, columns, strict=True):
        if target == IGNORE:
            continue
        if target.startswith(CUSTOM):
            custom = target[len(CUSTOM) :].strip()
            if not custom or len(custom) > MAX_CUSTOM_KEY_LENGTH:
                raise InvalidInput(
                    f"Custom field names must be 1 to {MAX_CUSTOM_KEY_LENGTH} characters long.", field="mapping"
                )
        elif target not in FIELDS:
            known = ", ".join([*FIELDS, "custom:<name>"])
            raise InvalidInput(
                f"“{target}” is not a contact field; use one of: {known}.", field="mapping", code="unknown_field"
            )
        if target in seen:
            raise InvalidInput(
                f"The columns “{seen[target]}” and “{name}” are both mapped to {field_label(target)}; "
                "map each field once.",
                field="mapping",
                code="duplicate_field",
            )
        seen[target] = name
    if "email" not in seen:
        raise InvalidInput(
            "Map a column to E-mail: rows are matched to existing contacts by their e-mail address.",
            field="mapping",
            code="email_not_mapped",
        )
    if sum(1 for target in seen if target.startswith(CUSTOM)) > MAX_CUSTOM_FIELDS:
        raise InvalidInput(f"At most {MAX_CUSTOM_FIELDS} columns can be imported as custom fields.", field="mapping")
    return list(columns)
