"""The CSV import engine: checking a file, detecting its columns, reading it as a stream, writing batches.

keel/contacts/imports.py runs the ``import`` job and the actions with these pieces. Every function here works on
one batch or one stream at a time, so memory does not grow with the file.
"""

import codecs
import csv
import operator
import os
import re
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.db.models import Q
from django.db.models.constants import OnConflict
from django.db.models.functions import Lower

from keel.contacts.actions import MAX_CUSTOM_FIELDS, MAX_CUSTOM_KEY_LENGTH, MAX_CUSTOM_VALUE_LENGTH
from keel.contacts.lookups import SearchKey
from keel.contacts.models import Contact, ContactEvent, ContactTag, Tag
from keel.errors import InvalidInput

# --- what a column can become --------------------------------------------------------------------------------

FIELDS = {
    "email": "E-mail",
    "first_name": "First name",
    "last_name": "Last name",
    "phone": "Phone",
    "company": "Company",
    "job_title": "Job title",
    "lifecycle_stage": "Lifecycle stage",
    "tags": "Tags",
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
}

# Encodings a user can declare for a file that is not UTF-8. Each keeps ASCII bytes (newline, quote, comma) as
# themselves, which the streaming reader relies on to split lines before decoding them.
ENCODINGS = {
    "utf-8": "UTF-8 (recommended)",
    "windows-1252": "Windows-1252 (Western European, Excel on Windows)",
    "iso-8859-1": "ISO-8859-1 (Latin-1)",
    "iso-8859-15": "ISO-8859-15 (Latin-9)",
    "windows-1250": "Windows-1250 (Central European)",
    "windows-1251": "Windows-1251 (Cyrillic)",
    "mac-roman": "Mac OS Roman",
    "shift_jis": "Shift JIS (Japanese)",
    "gb18030": "GB 18030 (Chinese)",
    "big5": "Big5 (Traditional Chinese)",
}
_CANONICAL_ENCODINGS = {codecs.lookup(name).name: name for name in ENCODINGS}

SPREADSHEET_EXTENSIONS = (".xlsx", ".xlsm", ".xls", ".ods", ".numbers")
BINARY_SIGNATURES = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0", b"%PDF", b"\x1f\x8b", b"\x89PNG", b"\xff\xd8\xff", b"GIF8")
NOT_CSV_HINT = "Save your spreadsheet as “CSV UTF-8 (comma delimited)” and upload that file."


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


# --- checking the whole file up front ------------------------------------------------------------------------


class FileRefused(InvalidInput):
    """The whole file cannot be imported; nothing was stored."""


@dataclass
class Inspection:
    encoding: str
    delimiter: str
    header: list
    sample: list
    data_offset: int  # byte offset of the first data row
    data_line: int  # its line number


def canonical_encoding(encoding):
    try:
        name = codecs.lookup((encoding or "utf-8").strip()).name
    except LookupError:
        name = None
    if name not in _CANONICAL_ENCODINGS:
        raise FileRefused(
            f"Keel cannot read files in the encoding “{encoding}”. Use UTF-8, or one of: " + ", ".join(ENCODINGS) + ".",
            field="encoding",
            code="unknown_encoding",
        )
    return _CANONICAL_ENCODINGS[name]


def human_size(size):
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024


def inspect_upload(fileobj, size, filename, encoding="utf-8"):
    """Refuse a file that cannot be imported as a whole, with the reason; else describe its columns.

    Reads the whole file once (decoding it, so that an encoding problem anywhere is caught now and not half-way
    through the import) without holding more than one chunk in memory.
    """
    encoding = canonical_encoding(encoding)
    if size > settings.KEEL_IMPORT_MAX_BYTES:
        raise FileRefused(
            f"The file is {human_size(size)}; Keel imports files of up to "
            f"{human_size(settings.KEEL_IMPORT_MAX_BYTES)}. Split it into smaller files and import them one by one.",
            field="file",
            code="file_too_large",
            status=413,
        )
    if size == 0:
        raise FileRefused("The file is empty.", field="file", code="empty_file")
    if os.path.splitext(filename or "")[1].lower() in SPREADSHEET_EXTENSIONS:
        raise FileRefused(f"This is a spreadsheet file, not a CSV file. {NOT_CSV_HINT}", field="file", code="not_csv")
    fileobj.seek(0)
    head = fileobj.read(64 * 1024)
    _refuse_binary(head)
    _check_encoding(fileobj, encoding)
    if b"\n" not in head and b"\r" in head:
        raise FileRefused(
            "The file uses line endings Keel cannot read (old Mac format). " + NOT_CSV_HINT,
            field="file",
            code="not_csv",
        )
    return _read_header(fileobj, encoding, _detect_delimiter(head, encoding))


def _refuse_binary(head):
    stripped = head.lstrip().lower()
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise FileRefused(
            "The file is saved as UTF-16 (“Unicode Text”), which Keel does not read. " + NOT_CSV_HINT,
            field="file",
            code="not_utf8",
        )
    if head.startswith(BINARY_SIGNATURES) or b"\x00" in head:
        raise FileRefused(f"This is not a CSV file. {NOT_CSV_HINT}", field="file", code="not_csv")
    if stripped.startswith((b"<!doctype", b"<html", b"<?xml")):
        raise FileRefused(
            f"This is a web page or XML file, not a CSV file. {NOT_CSV_HINT}", field="file", code="not_csv"
        )


def _check_encoding(fileobj, encoding):
    fileobj.seek(0)
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    lines_before = 0
    while chunk := fileobj.read(1024 * 1024):
        try:
            decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            line = lines_before + chunk[: exc.start].count(b"\n") + 1
            raise _encoding_refusal(encoding, line) from None
        lines_before += chunk.count(b"\n")
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise _encoding_refusal(encoding, lines_before + 1) from None


def _encoding_refusal(encoding, line):
    if encoding == "utf-8":
        return FileRefused(
            f"The file is not UTF-8 encoded (the first character Keel cannot read is on line {line}). Save it as "
            "“CSV UTF-8”, or choose the encoding the file was saved in (for example Windows-1252) and upload it "
            "again.",
            field="file",
            code="not_utf8",
            line=line,
        )
    return FileRefused(
        f"The file cannot be read as {encoding} (line {line}). Choose the encoding the file was saved in.",
        field="file",
        code="wrong_encoding",
        line=line,
    )


def _detect_delimiter(head, encoding):
    """Comma, semicolon (spreadsheets in many European locales), tab or pipe: whichever the header uses most."""
    first_line = head.split(b"\n", 1)[0].decode(encoding, errors="replace")
    first_line = re.sub(r'"[^"]*"', "", first_line)  # separators inside quoted names do not count
    counts = {d: first_line.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def _read_header(fileobj, encoding, delimiter):
    fileobj.seek(0)
    records = iter(RecordReader(fileobj, encoding, delimiter))
    header = next((r for r in records if r.error or not r.is_blank), None)
    if header is None:
        raise FileRefused("The file has no rows.", field="file", code="empty_file")
    if header.error or not any(cell.strip() for cell in header.row):
        raise FileRefused(
            "The first row of the file must name the columns (for example: email, first name, last name). "
            + NOT_CSV_HINT,
            field="file",
            code="not_csv",
        )
    names = [cell.strip() for cell in header.row]
    if len(names) > MAX_COLUMNS:
        raise FileRefused(
            f"The file has {len(names)} columns; Keel imports at most {MAX_COLUMNS}.", field="file", code="not_csv"
        )
    sample = []
    for record in records:
        if record.is_blank:
            continue
        sample.append(record.row if record.row is not None else [])
        if len(sample) == 5:
            break
    if not sample:
        raise FileRefused("The file has a header row but no contacts below it.", field="file", code="empty_file")
    return Inspection(encoding, delimiter, names, sample, header.end_offset, header.next_line)


# --- reading the file as a stream ----------------------------------------------------------------------------


@dataclass
class Record:
    line: int  # the line the record starts on (1 = the header)
    row: list | None
    end_offset: int  # byte offset just after the record: where reading resumes
    next_line: int
    error: str = ""

    @property
    def is_blank(self):
        return self.row is not None and not any(cell.strip() for cell in self.row)


class RecordReader:
    """CSV records of a binary file, each with its line number and the byte offset just after it.

    Lines are split on bytes and decoded one at a time, and the csv reader pulls only the lines a record needs,
    so after each record the offset is exact: a resumed import seeks there and carries on. A malformed record
    is reported (as ``error``) and reading goes on with the next one.
    """

    def __init__(self, fileobj, encoding, delimiter, offset=0, line=1):
        self.file = fileobj
        self.encoding = encoding
        self.delimiter = delimiter
        self.offset = offset
        self.line = line
        self.file.seek(offset)

    def _lines(self):
        while raw := self.file.readline():
            at_start = self.offset == 0
            self.offset += len(raw)
            self.line += raw.count(b"\n")
            if at_start and raw.startswith(codecs.BOM_UTF8) and self.encoding == "utf-8":
                raw = raw[len(codecs.BOM_UTF8) :]
            yield raw.decode(self.encoding)

    def __iter__(self):
        reader = csv.reader(self._lines(), delimiter=self.delimiter)
        while True:
            line = self.line
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield Record(line, None, self.offset, self.line, error=str(exc))
                continue
            yield Record(line, row, self.offset, self.line)


def data_records(fileobj, encoding, delimiter, offset, line):
    """The non-blank records from ``offset`` on (blank lines are skipped, not reported)."""
    return (r for r in RecordReader(fileobj, encoding, delimiter, offset, line) if not r.is_blank)


# --- one row ------------------------------------------------------------------------------------------------


class RowProblem(Exception):
    def __init__(self, reasons):
        super().__init__("; ".join(reasons))
        self.reasons = reasons


@dataclass
class RowValues:
    line: int
    email: str
    fields: dict = field(default_factory=dict)  # Contact field → value, for the cells that are not empty
    tags: list = field(default_factory=list)
    custom: dict = field(default_factory=dict)


STAGES = {stage.value: stage.value for stage in Contact.Stage} | {
    stage.label.lower(): stage.value for stage in Contact.Stage
}


def parse_row(columns, record):
    """A record's values, checked; raises RowProblem with every reason the row cannot be imported.

    Cells are stored as the text they are: a cell starting with = + - or @ is never evaluated or changed.
    Empty cells leave an existing contact's value as it is.
    """
    row = record.row
    if len(row) < len(columns) or any(cell.strip() for cell in row[len(columns) :]):
        raise RowProblem([f"The row has {len(row)} values but the header has {len(columns)} columns."])
    if any("\x00" in cell for cell in row):
        raise RowProblem(["The row contains a NUL character, which cannot be stored."])
    values, reasons = RowValues(line=record.line, email=""), []
    for target, cell in zip(columns, row, strict=False):
        cell = cell.strip()
        if target == IGNORE:
            continue
        if target == "email":
            values.email = _check_email(cell, reasons)
        elif not cell:
            continue
        elif target in TEXT_FIELDS:
            model_field = MODEL_FIELDS.get(target, target)
            limit = Contact._meta.get_field(model_field).max_length
            if len(cell) > limit:
                reasons.append(f"The {FIELDS[target].lower()} is longer than {limit} characters ({len(cell)}).")
            values.fields[model_field] = cell
        elif target == "lifecycle_stage":
            stage = STAGES.get(cell.lower())
            if stage is None:
                reasons.append(f"“{cell}” is not a lifecycle stage; use one of: {', '.join(Contact.Stage.values)}.")
            values.fields["lifecycle_stage"] = stage
        elif target == "tags":
            values.tags = _check_tags(cell, reasons)
        else:
            name = target[len(CUSTOM) :]
            if len(cell) > MAX_CUSTOM_VALUE_LENGTH:
                reasons.append(f"The custom field “{name}” is longer than {MAX_CUSTOM_VALUE_LENGTH} characters.")
            values.custom[name] = cell
    if reasons:
        raise RowProblem(reasons)
    return values


def _check_email(cell, reasons):
    email = cell.lower()
    if not email:
        reasons.append("The e-mail address is missing (rows are matched to contacts by e-mail).")
    elif len(email) > Contact._meta.get_field("email").max_length:
        reasons.append(f"The e-mail address is longer than {Contact._meta.get_field('email').max_length} characters.")
    else:
        try:
            validate_email(email)
        except ValidationError:
            reasons.append(f"“{cell}” is not a valid e-mail address.")
    return email


def _check_tags(cell, reasons):
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


# --- the error report ------------------------------------------------------------------------------------------


def report_header(file_header):
    return ["line", "problem", *file_header]


def report_row(line, reasons, row):
    """One line of the error report: where, why, and the row as it was, with formula-looking cells defused so
    that opening the report in a spreadsheet runs nothing."""
    return [line, " ".join(reasons), *(defuse(cell) for cell in (row or []))]


def defuse(cell):
    return "'" + cell if cell[:1] in ("=", "+", "-", "@", "\t", "\r") else cell


# --- writing one batch ------------------------------------------------------------------------------------------

UPDATABLE = ("first_name", "last_name", "phone", "company_name", "job_title", "lifecycle_stage", "custom_fields")


def write_batch(company_id, rows, now, event_title, event_data):
    """Create or update the batch's contacts (matched by e-mail, case-insensitively), tag them, and add an
    "imported" event per row. Call inside the batch's transaction. Returns (rows created, rows updated).

    The rows go in with multi-row INSERT statements built from the models' metadata:
    building thousands of model instances per batch would cost several times the database's own work.
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
            contact = {"id": None, "email": row.email, "company_id": company_id, "created_at": now}
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
    event_rows = [
        {
            "company_id": company_id,
            "contact_id": contacts[row.email]["id"],
            "kind": "imported",
            "title": event_title[:300],
            "data": {**event_data, "line": row.line, "created": id(row) in created_rows},
            "occurred_at": now,
        }
        for row in rows
    ]
    insert_rows(ContactEvent, event_rows)
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


# --- plain multi-row statements -----------------------------------------------------------------------------------


def _writable_fields(model):
    return [f for f in model._meta.concrete_fields if not f.primary_key]


def _adapter(field, db):
    """How a Python value becomes a database value for this column, or None when it needs no conversion (JSON
    and datetimes depend on the backend). A batch writes one timestamp into every row: converted once."""
    if isinstance(field, models.JSONField):
        ops, encoder = db.ops, field.encoder
        return lambda value: ops.adapt_json_value(value, encoder)
    if isinstance(field, models.DateTimeField):
        converted = {}

        def adapt_datetime(value):
            if value not in converted:
                converted[value] = field.get_db_prep_save(value, db)
            return converted[value]

        return adapt_datetime
    return None


def insert_rows(model, rows, ignore_conflicts=False):
    """INSERT the given dicts (by attname); columns a dict leaves out get the field's default."""
    if not rows:
        return
    db = connections[DEFAULT_DB_ALIAS]  # the connection itself: the proxy costs a lookup per attribute
    fields = _writable_fields(model)
    names = [f.attname for f in fields]
    defaults = {f.attname: f.get_db_prep_save(f.get_default(), db) for f in fields}
    converters = [(f.attname, adapt) for f in fields if (adapt := _adapter(f, db))]
    pick = operator.itemgetter(*names)
    values = []
    for row in rows:
        merged = {**defaults, **row}
        for name, adapt in converters:
            if name in row:
                merged[name] = adapt(row[name])
        values.append(pick(merged))
    quote = db.ops.quote_name
    on_conflict = OnConflict.IGNORE if ignore_conflicts else None
    placeholders = f"({', '.join(['%s'] * len(fields))})"
    per_statement = max(1, min(1000, 30000 // len(fields)))  # within every backend's limit on parameters
    with db.cursor() as cursor:
        for start in range(0, len(values), per_statement):
            chunk = values[start : start + per_statement]
            cursor.execute(
                f"{db.ops.insert_statement(on_conflict=on_conflict)} {quote(model._meta.db_table)} "
                f"({', '.join(quote(f.column) for f in fields)}) VALUES {', '.join([placeholders] * len(chunk))}"
                f"{db.ops.on_conflict_suffix_sql(fields, on_conflict, None, None) if on_conflict else ''}",
                [value for row in chunk for value in row],
            )


def update_rows(model, rows, names):
    """UPDATE the named fields of the given dicts (each with its ``id``)."""
    fields = [model._meta.get_field(name) for name in names]
    adapters = [_adapter(f, connection) or (lambda value: value) for f in fields]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(f.column)} = %s" for f in fields)
    sql = f"UPDATE {quote(model._meta.db_table)} SET {assignments} WHERE {quote(model._meta.pk.column)} = %s"  # noqa: S608
    values = [
        [adapt(row.get(f.attname)) for f, adapt in zip(fields, adapters, strict=True)] + [row["id"]] for row in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, values)
