"""The archive writer: a company's data as a Keel export archive, format version 1 (docs/export.md, "The archive
(format version 1)").

``write_archive()`` reads everything inside one read transaction on a dedicated connection (``Snapshot``:
REPEATABLE READ on PostgreSQL, a deferred read transaction in WAL mode on SQLite), in keyset batches, and streams
CSV rows straight into the ZIP. It never writes to the database, so it neither blocks nor changes anything. Which
tables and columns go in is ``keel.datacontrol.export.scopes``.
"""

import csv
import hashlib
import io
import json
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import UTC

from django.apps import apps
from django.conf import settings
from django.core.files.storage import default_storage
from django.utils import timezone

from keel.datacontrol import graph
from keel.datacontrol.export.deflate import open_entry
from keel.datacontrol.export.scopes import (
    attachment_archive_path,
    columns,
    file_columns,
    models_for_scope,
    normalize_scope,
)
from keel.datacontrol.export.snapshot import Snapshot
from keel.jobs.progress import NoProgress
from keel.spreadsheets import ARCHIVE_RULE, ESCAPE, FORMULA_STARTS, escape_reversibly

FORMAT = "keel-export"
FORMAT_VERSION = 1
# Deflate at the fastest level: text compresses well already there; higher levels cost several times the CPU for a
# few percent of size. The CSVs and files are deflated by ISA-L (keel.datacontrol.export.deflate); zipfile's own
# zlib, at this level, only writes the small manifest and README.
COMPRESSION = zipfile.ZIP_DEFLATED
COMPRESS_LEVEL = 1
COPY_CHUNK = 1024 * 1024
ESCAPED_STARTS = frozenset((*FORMULA_STARTS, ESCAPE))


# --- writing ---------------------------------------------------------------------------------------------------


class _HashingWriter:
    """A write-only, unseekable view of the output that hashes every byte passing through.

    Being unseekable makes zipfile stream each entry with a data descriptor instead of seeking back to patch its
    header, so the archive's SHA-256 and size are known the moment its last byte is written.
    """

    def __init__(self, raw):
        self.raw = raw
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data):
        self.raw.write(data)
        self.sha256.update(data)
        self.size += len(data)
        return len(data)

    def tell(self):
        return self.size

    def flush(self):
        self.raw.flush()


@dataclass
class WrittenArchive:
    """What ``write_archive`` produced: the manifest it put in the archive, and the archive's own checksum."""

    manifest: dict
    sha256: str
    size: int

    @property
    def row_counts(self):
        return {entry["entity"]: entry["rows"] for entry in self.manifest["files"] if entry["entity"] != "company"}


# How cells are formatted: "copy" (PostgreSQL: COPY … TO STDOUT, every rule in the SELECT), "sql" (rows read
# through a cursor, every rule in the SELECT but the file paths), "python" (text cells escaped in Python: the
# reference the other two are tested against, byte for byte).
METHODS = ("copy", "sql", "python")


class _ArchiveWriter:
    def __init__(self, company, scope, fileobj, progress, batch_size, method=None):
        self.company = company
        self.scope = normalize_scope(scope)
        self.output = _HashingWriter(fileobj)
        self.progress = progress or NoProgress()
        self.batch_size = max(1, int(batch_size or settings.KEEL_BATCH_SIZE))
        self.files = []
        self.done = 0
        self.models = models_for_scope(self.scope)
        self.method = method

    def _method(self, vendor):
        if self.method is None:
            return "copy" if vendor == "postgresql" else "sql"
        if self.method == "copy" and vendor != "postgresql":
            raise ValueError("COPY is PostgreSQL's")
        return self.method

    def write(self):
        with (
            Snapshot() as snapshot,
            zipfile.ZipFile(
                self.output, "w", compression=COMPRESSION, compresslevel=COMPRESS_LEVEL, allowZip64=True
            ) as archive,
        ):
            self.snapshot, self.archive = snapshot, archive
            self.method = self._method(snapshot.vendor)
            self.progress.step("Counting rows")
            counts = self._counts()  # the first SELECT fixes the snapshot
            created_at = timezone.now()
            with_files = [m for m in self.models if file_columns(m)]
            self.progress.set_total(1 + sum(counts.values()) + sum(counts[m] for m in with_files))
            Company = apps.get_model("accounts", "Company")
            self._write_table(Company, "company", "id", expected_rows=1)
            for model in self.models:
                self._write_table(model, graph.entity_name(model), "company_id", counts[model])
            if with_files:
                self._write_attachments(with_files)
            manifest = self._manifest(created_at)
            archive.writestr("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False))
            archive.writestr("README.txt", readme(manifest))
        self.output.flush()
        return WrittenArchive(manifest=manifest, sha256=self.output.sha256.hexdigest(), size=self.output.size)

    def _advance(self, rows):
        """Report rows done. A job restarted after a crash writes everything again: ``set_done`` keeps its bar where
        the previous attempt left it until this attempt gets further."""
        self.done += rows
        self.progress.set_done(self.done)

    def _counts(self):
        """``{model: rows of the company}`` for every exported model, in one statement (one round trip)."""
        if not self.models:
            return {}
        quote = self.snapshot.quote
        counts = ", ".join(
            f"(SELECT COUNT(*) FROM {quote(model._meta.db_table)} WHERE company_id = %s)"  # noqa: S608 (identifiers)
            for model in self.models
        )
        row = self.snapshot.fetchall(f"SELECT {counts}", [self.company.pk] * len(self.models))[0]
        return dict(zip(self.models, row, strict=True))

    def _select(self, model, selected, where_column, inline=False):
        """The company's rows in primary-key order (the (company, id) index gives them in that order without
        sorting). COPY takes no parameters: ``inline`` puts the company's id (an integer) into the statement."""
        snapshot = self.snapshot
        company = str(int(self.company.pk)) if inline else "%s"
        return (
            f"SELECT {', '.join(selected)} FROM {snapshot.quote(model._meta.db_table)} "  # noqa: S608
            f"WHERE {snapshot.quote(where_column)} = {company} ORDER BY {snapshot.quote(model._meta.pk.column)}"
        )

    def _batches(self, model, selected, where_column):
        """Rows of the company, ``batch_size`` at a time."""
        return self.snapshot.stream(self._select(model, selected, where_column), [self.company.pk], self.batch_size)

    def _write_table(self, model, entity, where_column, expected_rows):
        cols = columns(model)
        path = f"{entity}.csv"
        self.progress.step(f"Writing {path}")
        digest, rows_written = hashlib.sha256(), 0
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow([c.name for c in cols])
        with open_entry(self.archive, path) as entry:
            self._flush(buffer, entry, digest)
            for data, rows in self._csv_pieces(model, entity, cols, where_column, writer, buffer):
                digest.update(data)
                entry.write(data)
                rows_written += rows
                self._advance(rows)
                self.progress.checkpoint()
        if rows_written != expected_rows:
            # Both numbers come from the same snapshot; if they differ, the archive would not be one consistent
            # picture, so it must not be published.
            raise RuntimeError(f"{path}: counted {expected_rows} rows but read {rows_written} in the same snapshot")
        self.files.append(
            {
                "path": path,
                "entity": entity,
                "rows": rows_written,
                "sha256": digest.hexdigest(),
                "columns": [c.describe() for c in cols],
                "description": _describe(model),
            }
        )

    def _csv_pieces(self, model, entity, cols, where_column, writer, buffer):
        """The table's CSV rows after the header, as ``(utf-8 bytes, rows)`` pieces of about a batch each."""
        snapshot = self.snapshot
        if self.method == "copy":
            pk = snapshot.quote(model._meta.pk.column)
            selected = [
                snapshot.file_path(snapshot.quote(c.field.column), pk, entity)
                if c.type == "file"
                # COPY quotes an empty text ("") to tell it from NULL; csv.writer writes both as nothing.
                else snapshot.escaped_text(snapshot.quote(c.field.column), empty_as_null=True)
                if c.type == "string"
                else snapshot.select_expression(c)
                for c in cols
            ]
            yield from snapshot.copy_csv(self._select(model, selected, where_column, inline=True), self.batch_size)
            return
        selected = [snapshot.select_expression(c, text_in_sql=self.method == "sql") for c in cols]
        convert = self._row_converter(entity, cols)
        for rows in self._batches(model, selected, where_column):
            writer.writerows(map(convert, rows) if convert else rows)
            data = buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
            yield data, len(rows)

    @staticmethod
    def _flush(buffer, entry, digest):
        data = buffer.getvalue().encode("utf-8")
        buffer.seek(0)
        buffer.truncate()
        digest.update(data)
        entry.write(data)

    def _row_converter(self, entity, cols):
        converters = []
        for index, column in enumerate(cols):
            if column.type == "file":
                converters.append((index, self._file_path_converter(entity)))
            elif column.type == "string" and self.method == "python":
                converters.append((index, _spreadsheet_safe))
            else:
                fn = self.snapshot.python_converter(column)
                if fn:
                    converters.append((index, lambda value, row_id, fn=fn: fn(value)))
        if not converters:
            return None

        def convert(row):
            row = list(row)
            for index, fn in converters:
                row[index] = fn(row[index], row[0])
            return row

        return convert

    @staticmethod
    def _file_path_converter(entity):
        return lambda value, row_id: attachment_archive_path(entity, row_id, value) if value else ""

    def _write_attachments(self, file_models):
        """Copy the stored files of the exported rows into attachments/, and list them in attachments/index.csv."""
        self.progress.step("Copying attachments")
        index_columns = ["path", "entity", "row_id", "size", "sha256", "status"]
        with tempfile.SpooledTemporaryFile(max_size=1024 * 1024, mode="w+", newline="", encoding="utf-8") as index:
            writer = csv.writer(index, lineterminator="\r\n")
            writer.writerow(index_columns)
            rows_in_index = 0
            for model in file_models:
                entity = graph.entity_name(model)
                pk = self.snapshot.quote(model._meta.pk.column)
                selected = [pk] + [self.snapshot.quote(c.field.column) for c in file_columns(model)]
                for rows in self._batches(model, selected, "company_id"):
                    for row_id, *stored_names in rows:
                        for stored_name in filter(None, stored_names):
                            writer.writerow(self._copy_file(entity, row_id, stored_name))
                            rows_in_index += 1
                    self._advance(len(rows))
                    self.progress.checkpoint()
            index.seek(0)
            digest = hashlib.sha256()
            with open_entry(self.archive, "attachments/index.csv") as entry:
                while chunk := index.read(COPY_CHUNK):
                    data = chunk.encode("utf-8")
                    digest.update(data)
                    entry.write(data)
        self.files.append(
            {
                "path": "attachments/index.csv",
                "entity": "attachment_files",
                "rows": rows_in_index,
                "sha256": digest.hexdigest(),
                "columns": [
                    {
                        "name": name,
                        "type": "integer" if name in ("row_id", "size") else "string",
                        "nullable": name == "size",  # empty when the file was missing
                    }
                    for name in index_columns
                ],
                "description": "Every stored file of the exported rows: where it is in this archive, its size and "
                "SHA-256, or status 'missing' if the file was no longer in storage.",
            }
        )

    def _copy_file(self, entity, row_id, stored_name):
        path = attachment_archive_path(entity, row_id, stored_name)
        try:
            source = default_storage.open(stored_name, "rb")
        except (FileNotFoundError, OSError):
            # Deleted after the snapshot was taken (its contact was deleted meanwhile): listed, not fatal.
            return [path, entity, row_id, "", "", "missing"]
        digest, size = hashlib.sha256(), 0
        with source, open_entry(self.archive, path) as entry:
            while chunk := source.read(COPY_CHUNK):
                digest.update(chunk)
                entry.write(chunk)
                size += len(chunk)
        return [path, entity, row_id, size, digest.hexdigest(), "stored"]

    def _manifest(self, created_at):
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "keel_version": settings.VERSION,
            "company": {"id": self.company.pk, "name": self.company.name, "slug": self.company.slug},
            "created_at": created_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "scope": self.scope,
            "csv_formula_escape": ARCHIVE_RULE,
            "files": self.files,
        }


def _spreadsheet_safe(value, row_id):
    """Text cells are escaped so that opening a CSV in a spreadsheet runs nothing; restore reverses it exactly
    (keel/spreadsheets.py; the manifest declares the rule as ``csv_formula_escape``)."""
    if value and value[0] in ESCAPED_STARTS:
        return escape_reversibly(value)
    return value


def _describe(model):
    if graph.label(model) == "accounts.Company":
        return "The company itself."
    doc = (model.__doc__ or "").strip()
    generated = doc.startswith(f"{model.__name__}(")  # Django's automatic docstring lists the fields
    return doc.splitlines()[0] if doc and not generated else str(model._meta.verbose_name_plural).capitalize() + "."


def write_archive(company, scope, fileobj, progress=None, batch_size=None, method=None):
    """Write the export archive of ``company`` for ``scope`` (list of SCOPES names, None = all) into ``fileobj``.

    ``fileobj`` is any binary file open for writing; nothing is seeked. ``progress`` is an optional
    ``keel.jobs.progress.ProgressReporter``; its ``checkpoint()`` may raise to stop the export.
    Returns a WrittenArchive: the manifest, and the SHA-256 and size of the bytes written. ``method`` (METHODS)
    chooses how cells are formatted; None is the fastest for the database, every method writes the same bytes.
    """
    return _ArchiveWriter(company, scope, fileobj, progress, batch_size, method).write()


def readme(manifest):
    """README.txt: what each file of the archive holds, for a person opening it."""
    lines = [
        f"Keel export of {manifest['company']['name']}",
        "=" * 60,
        "",
        f"Created: {manifest['created_at']} (one consistent snapshot of the data at that moment)",
        f"Data scope: {', '.join(manifest['scope'])}",
        f"Format: {manifest['format']} version {manifest['format_version']} (Keel {manifest['keel_version']})",
        "",
        "How to read it",
        "--------------",
        "- One CSV file per kind of record, UTF-8, with a header row, RFC 4180 quoting, rows ordered by id.",
        "- Times are ISO 8601 in UTC. JSON fields hold JSON text. Columns ending in _id hold the id of a row in",
        "  another file (manifest.json names the file each one points at).",
        "- An empty cell means no value (NULL) in a column manifest.json marks nullable, otherwise empty text.",
        "- attachments/ holds the stored files; attachments/index.csv lists each with its size and SHA-256.",
        "- manifest.json lists every file with its row count, SHA-256 and columns, to check nothing is missing.",
        "- Passwords, API token secrets and integration credentials are never exported.",
        "- A text cell a spreadsheet would run as a formula starts with an extra ' (so does one that starts with '):",
        "  spreadsheets show it as text. Remove exactly one leading ' to read the value (csv_formula_escape).",
        "",
        "Checking and restoring it",
        "------------------------",
        "- keel verify-archive <this file> checks every file against manifest.json without changing anything.",
        "- Settings > Data Management > Restore from an export (or keel restore <this file> --company SLUG)",
        "  reads it back into an empty company.",
        "",
        "Files",
        "-----",
    ]
    for entry in manifest["files"]:
        lines.append(f"{entry['path']}  ({entry['rows']} rows)")
        lines.append(f"    {entry.get('description', '')}")
        lines.append(f"    columns: {', '.join(c['name'] for c in entry['columns'])}")
    return "\n".join(lines) + "\n"
