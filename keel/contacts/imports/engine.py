"""The CSV import engine: checking a whole file up front, reading it as a stream of records, checking one row.

The ``import`` job (job.py) and the actions (actions.py) are built from these pieces. Every function here works on
one record or one stream at a time, so memory does not grow with the file.
"""

import codecs
import csv
import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

from django.conf import settings

from keel.contacts.imports.cells import (
    check_created_at,
    check_custom_fields,
    check_email,
    check_tags,
    unescape_archive_cell,
)
from keel.contacts.imports.columns import CUSTOM, FIELDS, IGNORE, MAX_COLUMNS, MODEL_FIELDS, TEXT_FIELDS
from keel.contacts.models import Contact
from keel.contacts.uploads import UploadTooLarge, human_size
from keel.contacts.validation import MAX_CUSTOM_VALUE_LENGTH
from keel.errors import InvalidInput

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
# The longest line Keel reads (200 columns of 2,000 characters fit): a longer one is refused with its number,
# before it is read into memory as a whole.
MAX_LINE_BYTES = 1024 * 1024
NOT_CSV_HINT = "Save your spreadsheet as “CSV UTF-8 (comma delimited)” and upload that file."


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
    except (LookupError, ValueError):  # ValueError: a name with a NUL character
        name = None
    if name not in _CANONICAL_ENCODINGS:
        raise FileRefused(
            f"Keel cannot read files in the encoding “{encoding}”. Use UTF-8, or one of: " + ", ".join(ENCODINGS) + ".",
            field="encoding",
            code="unknown_encoding",
        )
    return _CANONICAL_ENCODINGS[name]


def too_large_message(limit, size):
    return (
        f"The file is {human_size(size)}; Keel imports files of up to {human_size(limit)}. Split it into smaller "
        "files and import them one by one."
    )


def upload_too_large(limit, size):
    """The refusal of an upload over the limit while it is received (keel/contacts/uploads.py)."""
    return UploadTooLarge(too_large_message(limit, size), field="file")


def inspect_upload(fileobj, size, filename, encoding="utf-8"):
    """Refuse a file that cannot be imported as a whole, with the reason; else describe its columns.

    Reads the whole file once (decoding it, so that an encoding problem anywhere is caught now and not half-way
    through the import) without holding more than one chunk in memory.
    """
    encoding = canonical_encoding(encoding)
    if size > settings.KEEL_IMPORT_MAX_BYTES:
        raise FileRefused(
            too_large_message(settings.KEEL_IMPORT_MAX_BYTES, size), field="file", code="file_too_large", status=413
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
    """Decode the whole file, chunk by chunk, and measure its lines (see ``MAX_LINE_BYTES``)."""
    fileobj.seek(0)
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    lines_before = 0
    open_line = 0  # bytes of the line that continues into the next chunk
    while chunk := fileobj.read(1024 * 1024):
        try:
            decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            line = lines_before + chunk[: exc.start].count(b"\n") + 1
            raise _encoding_refusal(encoding, line) from None
        open_line = _check_line_lengths(chunk, open_line, lines_before)
        lines_before += chunk.count(b"\n")
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise _encoding_refusal(encoding, lines_before + 1) from None


def _check_line_lengths(chunk, open_line, lines_before):
    """Refuse the file at its first line longer than ``MAX_LINE_BYTES``; returns the length of the chunk's last,
    unfinished line."""
    lengths = [len(part) for part in chunk.split(b"\n")]
    lengths[0] += open_line
    for number, length in enumerate(lengths):
        if length > MAX_LINE_BYTES:
            raise line_too_long(lines_before + number + 1)
    return lengths[-1]


def line_too_long(line):
    return FileRefused(
        f"Line {line} of the file is longer than {human_size(MAX_LINE_BYTES)}, which Keel does not import. Check that "
        "the file is a CSV file with one contact per line.",
        field="file",
        code="line_too_long",
        line=line,
    )


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
        return self.row is not None and not "".join(self.row).strip()  # every cell empty or white space


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
        while raw := self.file.readline(MAX_LINE_BYTES + 1):
            if len(raw) > MAX_LINE_BYTES:  # checked at upload; a file changed since is not read into memory
                raise line_too_long(self.line)
            at_start = self.offset == 0
            self.offset += len(raw)
            self.line += raw.endswith(b"\n")  # a line read holds at most one, at its end
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
    created_at: datetime | None = None


STAGES = {stage.value: stage.value for stage in Contact.Stage} | {
    stage.label.lower(): stage.value for stage in Contact.Stage
}


# What parse_row does with a column: the kinds of step of a RowPlan.
_EMAIL, _TEXT, _STAGE, _TAGS, _CUSTOM_FIELDS, _CREATED_AT, _CUSTOM = range(7)


@lru_cache(maxsize=16)
def row_plan(columns):
    """The steps that check a row of a file with these columns (a tuple of targets), worked out once per file
    instead of once per cell: (position, kind, name, limit, label) for every imported column."""
    steps = []
    for position, target in enumerate(columns):
        if target == IGNORE:
            continue
        if target == "email":
            steps.append((position, _EMAIL, "email", 0, ""))
        elif target in TEXT_FIELDS:
            name = MODEL_FIELDS.get(target, target)
            steps.append((position, _TEXT, name, Contact._meta.get_field(name).max_length, FIELDS[target].lower()))
        elif target == "lifecycle_stage":
            steps.append((position, _STAGE, "lifecycle_stage", 0, ""))
        elif target == "tags":
            steps.append((position, _TAGS, "tags", 0, ""))
        elif target == "custom_fields":
            steps.append((position, _CUSTOM_FIELDS, "custom_fields", 0, ""))
        elif target == "created_at":
            steps.append((position, _CREATED_AT, "created_at", 0, ""))
        else:
            steps.append((position, _CUSTOM, target[len(CUSTOM) :], MAX_CUSTOM_VALUE_LENGTH, ""))
    return tuple(steps)


def parse_row(columns, record):
    """A record's values, checked; raises RowProblem with every reason the row cannot be imported.

    Cells are stored as the text they are: a cell starting with = + - or @ is never evaluated or changed.
    Empty cells leave an existing contact's value as it is. No model instance is built: the row's values are
    checked against the plan of its columns (``row_plan``) and kept as plain values.
    """
    row = record.row
    width = len(columns)
    if len(row) < width or (len(row) > width and any(cell.strip() for cell in row[width:])):
        raise RowProblem([f"The row has {len(row)} values but the header has {width} columns."])
    if any("\x00" in cell for cell in row):
        raise RowProblem(["The row contains a NUL character, which cannot be stored."])
    values, reasons = RowValues(line=record.line, email=""), []
    from_keel_export = "custom_fields" in columns
    fields = values.fields
    for position, kind, name, limit, label in row_plan(tuple(columns)):
        cell = row[position].strip()
        if from_keel_export:
            cell = unescape_archive_cell(cell)
        if kind == _EMAIL:
            values.email = check_email(cell, reasons)
        elif not cell:
            continue
        elif kind == _TEXT:
            if len(cell) > limit:
                reasons.append(f"The {label} is longer than {limit} characters ({len(cell)}).")
            fields[name] = cell
        elif kind == _STAGE:
            stage = STAGES.get(cell.lower())
            if stage is None:
                reasons.append(f"“{cell}” is not a lifecycle stage; use one of: {', '.join(Contact.Stage.values)}.")
            fields["lifecycle_stage"] = stage
        elif kind == _TAGS:
            values.tags = check_tags(cell, reasons)
        elif kind == _CUSTOM_FIELDS:
            values.custom.update(check_custom_fields(cell, reasons))
        elif kind == _CREATED_AT:
            values.created_at = check_created_at(cell, reasons)
        else:
            if len(cell) > limit:
                reasons.append(f"The custom field “{name}” is longer than {limit} characters.")
            values.custom[name] = cell
    if reasons:
        raise RowProblem(reasons)
    return values
