"""Reading a Keel export archive (docs/export.md, format version 1): its manifest, its CSV files as typed rows, a
stream at a time, and the check that it is intact before anything is written (docs/restore.md, What is checked).
"""

import csv
import hashlib
import io
import json
import zipfile
from datetime import date, datetime, time
from decimal import Decimal
from uuid import UUID

from django.utils.dateparse import parse_duration

from keel.bulk import JSONText
from keel.errors import InvalidInput

FORMAT = "keel-export"
SUPPORTED_VERSIONS = (1,)
ATTACHMENT_INDEX = "attachment_files"
READ_CHUNK = 1024 * 1024

csv.field_size_limit(64 * 1024 * 1024)  # a JSON cell or a long note may exceed csv's 128 KiB default


class InvalidArchive(InvalidInput):
    code = "invalid_archive"


class UnsupportedArchiveVersion(InvalidInput):
    code = "unsupported_archive_version"


class ArchiveCorrupt(InvalidInput):
    code = "archive_corrupt"


class HashingReader(io.RawIOBase):
    """Reads a ZIP entry while hashing and counting every byte, so one pass both checks and parses a file."""

    def __init__(self, raw):
        self.raw = raw
        self.sha256 = hashlib.sha256()
        self.size = 0

    def readable(self):
        return True

    def readinto(self, buffer):
        data = self.raw.read(len(buffer))
        self.sha256.update(data)
        self.size += len(data)
        buffer[: len(data)] = data
        return len(data)


class Archive:
    """An opened archive. ``fileobj`` is a seekable binary file (a ZIP is read from its end)."""

    def __init__(self, fileobj):
        try:
            self.zip = zipfile.ZipFile(fileobj)
            raw_manifest = self.zip.read("manifest.json")
        except (zipfile.BadZipFile, OSError, EOFError, ValueError):
            raise InvalidArchive("This file is not a ZIP archive. Upload the .zip file of a Keel export.") from None
        except KeyError:
            raise InvalidArchive("This ZIP archive has no manifest.json: it is not a Keel export.") from None
        self.manifest = _parse_manifest(raw_manifest)
        self.files = {entry["entity"]: entry for entry in self.manifest["files"]}
        self.unescape = _formula_unescaper(self.manifest.get("csv_formula_escape"))
        self.verified = False  # checked completely (verify.py) since it was opened

    def close(self):
        self.zip.close()

    @property
    def source(self):
        """What the archive says about where it came from (shown before a restore starts, kept in its result)."""
        return {
            "company": self.manifest["company"].get("name", ""),
            "created_at": self.manifest.get("created_at", ""),
            "keel_version": self.manifest.get("keel_version", ""),
        }

    def row_counts(self):
        return {e: f["rows"] for e, f in self.files.items() if e not in ("company", ATTACHMENT_INDEX)}

    def has(self, entity):
        return entity in self.files

    def open_member(self, path):
        try:
            return self.zip.open(path)
        except KeyError:
            raise ArchiveCorrupt(f"{path} is listed in the manifest but missing from the archive.", file=path) from None

    def raw_rows(self, entity, reader=None):
        """The rows of an entity's CSV as lists of text, after checking its header against the manifest."""
        entry = self.files[entity]
        source = reader or self.open_member(entry["path"])
        text = io.TextIOWrapper(io.BufferedReader(source, READ_CHUNK), encoding="utf-8", newline="")
        rows = csv.reader(text)
        header = next(rows, None)
        expected = [column["name"] for column in entry["columns"]]
        if header != expected:
            raise ArchiveCorrupt(
                f"{entry['path']}: its header row does not match the columns the manifest lists.", file=entry["path"]
            )
        return rows

    def rows(self, entity, batch_size, json_as_text=False):
        """Batches of ``{column: value}`` with every value typed as the manifest says (docs/export.md, Types).
        With ``json_as_text`` JSON cells stay text (``keel.bulk.JSONText``), for a writer that lets the database
        check them."""
        entry = self.files[entity]
        names = [c["name"] for c in entry["columns"]]
        parsers = [_fast_parser(c, self.unescape, json_as_text) for c in entry["columns"]]
        batch, line = [], 1
        for cells in self.raw_rows(entity):
            line += 1
            try:
                values = [parse(cell) for parse, cell in zip(parsers, cells, strict=True)]
                batch.append(dict(zip(names, values, strict=True)))
            except (ValueError, TypeError, KeyError, ArithmeticError):
                reason = self._reason(entry, cells)
                raise ArchiveCorrupt(f"{entry['path']}, line {line}: {reason}", file=entry["path"]) from None
            if len(batch) >= batch_size:
                yield batch
                batch = []
        if batch:
            yield batch

    def _reason(self, entry, cells):
        """Why a row failed to read, cell by cell: the fast parsers of ``rows`` say nothing about which."""
        if len(cells) != len(entry["columns"]):
            return "a row has a different number of cells than the header."
        for column, cell in zip(entry["columns"], cells, strict=True):
            try:
                _parser(column, self.unescape)(cell)
            except ValueError as exc:
                return f"a value cannot be read ({exc})."
        return "a value cannot be read."


def _parse_manifest(raw):
    try:
        manifest = json.loads(raw)
    except ValueError:
        raise InvalidArchive("manifest.json of this archive is not valid JSON: it is not a Keel export.") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise InvalidArchive("This ZIP archive has no Keel export manifest: it is not a Keel export.")
    version = manifest.get("format_version")
    if version not in SUPPORTED_VERSIONS:
        readable = ", ".join(map(str, SUPPORTED_VERSIONS))
        raise UnsupportedArchiveVersion(
            f"This archive has format version {version}; this Keel reads version {readable}. "
            "Restore it into a Keel at least as new as the one that exported it.",
            format_version=version,
        )
    files = manifest.get("files")
    company = manifest.get("company")
    if not isinstance(files, list) or not isinstance(company, dict) or not all(_is_entry(f) for f in files):
        raise InvalidArchive("manifest.json of this archive is incomplete: it lists no files or no company.")
    return manifest


def _is_entry(entry):
    return isinstance(entry, dict) and {"path", "entity", "rows", "sha256", "columns"} <= set(entry)


# --- typed values ----------------------------------------------------------------------------------------------


def _formula_unescaper(rule):
    """Undo the archive's spreadsheet-safety escape of text cells (docs/export.md, Formulas), if it declares one."""
    if not rule:
        return None
    prefix = rule.get("prefix", "'")
    return lambda text: text[len(prefix) :] if text.startswith(prefix) else text


def _text(unescape):
    return unescape or (lambda text: text)


PARSERS = {
    "integer": int,
    "boolean": lambda text: {"true": True, "false": False}[text],
    "datetime": datetime.fromisoformat,
    "date": date.fromisoformat,
    "time": time.fromisoformat,
    "json": json.loads,
    "decimal": Decimal,
    "float": float,
    "uuid": UUID,
    "duration": parse_duration,
}


def _fast_parser(column, unescape, json_as_text):
    """``_parser`` without its checks, for a whole row at a time: an empty cell of a column that is not nullable
    makes the parser raise (or, for text and files, stays ""), and ``Archive._reason`` then says which cell."""
    kind = column.get("type", "string")
    if kind == "json" and json_as_text:
        convert = JSONText
    elif kind == "string":
        convert = unescape or str
    else:
        convert = PARSERS.get(kind) or str
    if column.get("nullable", False):
        return lambda text: convert(text) if text else None
    return convert


def _parser(column, unescape):
    nullable = column.get("nullable", False)
    kind = column.get("type", "string")
    convert = PARSERS.get(kind) or (_text(unescape) if kind == "string" else (lambda text: text))

    def parse(text):
        if text == "":
            if nullable:
                return None
            if kind in ("string", "file"):
                return ""
        try:
            return convert(text)
        except KeyError:
            raise ValueError(f"{column['name']} must be true or false, not “{text[:40]}”") from None
        except (ValueError, ArithmeticError):
            raise ValueError(f"{column['name']} is not a valid {kind}: “{text[:40]}”") from None

    return parse
