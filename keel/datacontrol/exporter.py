"""The archive writer: a company's data as a Keel export archive, format version 1 (DESIGN §5, docs/export.md).

What is exported comes from the tenant graph, not from a list kept by hand: every tenant model is placed in one
data scope by the rules of ``scope_of_models()``, its columns are its concrete fields minus the secret ones, and
its file is named after ``graph.entity_name()``. A model added later is therefore exported without touching
this module, and a test fails if a model can be placed in no scope and is not excluded with a reason.

``write_archive()`` reads everything inside one read transaction on a dedicated connection (REPEATABLE READ on
PostgreSQL, a deferred read transaction in WAL mode on SQLite), in keyset batches, and streams CSV rows straight
into the ZIP. It never writes to the database, so it neither blocks nor changes anything.
"""

import csv
import hashlib
import io
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time

from django.apps import apps
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import connections, models
from django.utils import timezone

from keel.datacontrol import graph

FORMAT = "keel-export"
FORMAT_VERSION = 1
# Deflate level 1: text compresses well already at the fastest level; higher levels cost several times the CPU
# for a few percent of size.
COMPRESSION = zipfile.ZIP_DEFLATED
COMPRESS_LEVEL = 1
COPY_CHUNK = 1024 * 1024

# The data scopes a person chooses from, in the order the page shows them.
SCOPES = {
    "contacts": "Contacts with their history, notes, tags, lists, list memberships, attachments, campaign "
    "recipients and workflow enrollments",
    "campaigns": "Campaigns",
    "workflows": "Workflows",
    "users": "Users, roles, API token names and in-app notices (never passwords or token secrets)",
    "integrations": "Integration connections (never their credentials)",
    "audit_log": "The audit log: who did what, and when",
}

# The model each scope is named after. Other models join a scope through the foreign keys (scope_of_models).
SCOPE_ROOTS = {
    "contacts": "contacts.Contact",
    "campaigns": "marketing.Campaign",
    "workflows": "marketing.Workflow",
    "users": "accounts.User",
    "integrations": "integrations.IntegrationConnection",
    "audit_log": "audit.AuditEvent",
}

# Tenant models that are deliberately left out of every export, each with the reason.
NOT_EXPORTED = {
    "jobs.DataJob": "the bookkeeping of imports, exports and deletions, not the company's data; every such "
    "request is in the audit log (scope audit_log), which is exported",
    "datacontrol.ExportArchive": "the list of earlier exports: an archive cannot contain the archives themselves, "
    "and every export request, download and deletion is in the audit log",
}


# --- which models, which columns -------------------------------------------------------------------------------


def _reaches(model, targets, candidates):
    """Whether ``model`` points at one of ``targets`` through foreign keys among ``candidates``."""
    seen, frontier = set(), {model}
    while frontier:
        current = frontier.pop()
        seen.add(current)
        for parent in graph.tenant_parents(current):
            if parent in targets:
                return True
            if parent in candidates and parent not in seen:
                frontier.add(parent)
    return False


def _owners(model, candidates):
    """The tenant models a row cannot exist without: its non-null foreign keys (a note's contact, a token's user).

    Nullable keys are references (a note's author), not ownership.
    """
    return {
        f.related_model
        for f in model._meta.concrete_fields
        if isinstance(f, models.ForeignKey)
        and not f.null
        and f.related_model is not model
        and f.related_model in candidates
    }


def scope_of_models(tenant_models=None):
    """``{model: scope}`` for every tenant model; scope None means not exported (NOT_EXPORTED or unplaceable).

    The rules, in order:
    1. ``export_scope`` set on the model class, or the model is listed in NOT_EXPORTED;
    2. the model a scope is named after (SCOPE_ROOTS);
    3. the CRM subgraph (Contact and everything that reaches it, e.g. campaign recipients) is ``contacts``;
    4. a model whose owners (non-null foreign keys) all lie in one scope joins it (an API token → users);
    5. a model nothing owns joins the one scope of the rows that point at it (tags and lists → contacts,
       roles → users).
    """
    candidates = tuple(graph.tenant_models() if tenant_models is None else tenant_models)
    pool = set(candidates)
    placed = {}
    for model in candidates:
        label = graph.label(model)
        if hasattr(model, "export_scope"):
            placed[model] = model.export_scope
        elif label in NOT_EXPORTED:
            placed[model] = None
    roots = {scope: apps.get_model(label) for scope, label in SCOPE_ROOTS.items()}
    for scope, root in roots.items():
        if root in pool:
            placed.setdefault(root, scope)
    contact = roots["contacts"]
    for model in candidates:
        if model not in placed and _reaches(model, {contact}, pool):
            placed[model] = "contacts"
    changed = True
    while changed:
        changed = False
        for model in candidates:
            if model in placed:
                continue
            owners = _owners(model, pool)
            if owners:
                scopes = {placed.get(owner, "?") for owner in owners}
            else:
                children = [m for m in candidates if model in _owners(m, pool)]
                scopes = {placed.get(child, "?") for child in children} or {"?"}
            if len(scopes) == 1 and next(iter(scopes)) in SCOPES:
                placed[model] = next(iter(scopes))
                changed = True
    return {model: placed.get(model) for model in candidates}


def unplaced_models():
    """Tenant models in no scope and not excluded with a reason: must always be empty (a test checks it)."""
    return sorted(
        graph.label(model)
        for model, scope in scope_of_models().items()
        if scope is None and graph.label(model) not in NOT_EXPORTED and not hasattr(model, "export_scope")
    )


def models_for_scope(scope):
    """The models exported for the chosen scopes, parents before children."""
    chosen = set(scope)
    return [model for model, model_scope in scope_of_models().items() if model_scope in chosen]


def normalize_scope(scope):
    """The chosen scopes in canonical order; None means all. Unknown names raise ValueError naming them."""
    if scope is None:
        return list(SCOPES)
    unknown = [name for name in scope if name not in SCOPES]
    if unknown:
        raise ValueError(unknown)
    return [name for name in SCOPES if name in set(scope)]


TYPE_NAMES = {
    "AutoField": "integer",
    "BigAutoField": "integer",
    "SmallAutoField": "integer",
    "IntegerField": "integer",
    "BigIntegerField": "integer",
    "SmallIntegerField": "integer",
    "PositiveIntegerField": "integer",
    "PositiveBigIntegerField": "integer",
    "PositiveSmallIntegerField": "integer",
    "BooleanField": "boolean",
    "DateTimeField": "datetime",
    "DateField": "date",
    "TimeField": "time",
    "JSONField": "json",
    "DecimalField": "decimal",
    "FloatField": "float",
    "UUIDField": "uuid",
    "FileField": "file",
    "ImageField": "file",
    "DurationField": "duration",
}


def _type_name(model_field):
    if isinstance(model_field, models.ForeignKey):
        return _type_name(model_field.target_field)
    return TYPE_NAMES.get(model_field.get_internal_type(), "string")


@dataclass(frozen=True)
class Column:
    name: str  # the CSV header: the attribute name, ``<name>_id`` for foreign keys
    type: str
    nullable: bool
    field: models.Field = field(repr=False, compare=False)
    references: str | None = None  # entity name a foreign key points at

    def describe(self):
        info = {"name": self.name, "type": self.type, "nullable": self.nullable}
        if self.references:
            info["references"] = self.references
        return info


def columns(model):
    """The exported columns of a model: primary key first, then its fields, without ``company`` and secrets."""
    secret = graph.secret_columns(model)
    chosen = []
    for model_field in model._meta.concrete_fields:
        if model_field.name in secret or model_field.attname in secret:
            continue
        if model_field.name == "company" and graph.is_tenant_model(model):
            continue  # every row belongs to the company named in the manifest and company.csv
        references = None
        if isinstance(model_field, models.ForeignKey):
            target = model_field.related_model
            if graph.label(target) == "accounts.Company":
                references = "company"
            elif graph.is_tenant_model(target):
                references = graph.entity_name(target)
        chosen.append(
            Column(
                name=model_field.attname,
                type=_type_name(model_field),
                nullable=model_field.null,
                field=model_field,
                references=references,
            )
        )
    chosen.sort(key=lambda column: not column.field.primary_key)
    return chosen


def file_columns(model):
    return [column for column in columns(model) if column.type == "file"]


def attachment_archive_path(entity, row_id, stored_name):
    """Where a stored file goes in the archive: ``attachments/<id>/<file name>`` (other entities in a subfolder)."""
    folder = "attachments/" if entity == "attachments" else f"attachments/{entity}/"
    return f"{folder}{row_id}/{os.path.basename(stored_name)}"


# --- the snapshot ------------------------------------------------------------------------------------------------


class Snapshot:
    """One read transaction on a dedicated connection, so every file of the archive sees the same data.

    PostgreSQL: REPEATABLE READ, READ ONLY. SQLite: a deferred transaction, which in WAL mode reads one snapshot
    from its first SELECT on while writers carry on (``transaction.atomic()`` would take the write lock, because
    Keel runs SQLite with transaction_mode IMMEDIATE, and block every writer for the whole export).
    Nothing is ever written through this connection; job progress goes through the heartbeat's own connection.
    """

    def __init__(self):
        default = connections["default"]
        self.connection = type(default)(dict(default.settings_dict), alias="default")
        self.vendor = self.connection.vendor
        self.cursor = None
        self._cursors = 0

    def __enter__(self):
        self.connection.ensure_connection()
        self.cursor = self.connection.cursor()
        if self.vendor == "postgresql":
            self.cursor.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        else:
            self.cursor.execute("BEGIN DEFERRED")
        return self

    def __exit__(self, *exc):
        try:
            self.cursor.execute("ROLLBACK")  # read only: nothing to commit
            self.cursor.close()
        finally:
            self.connection.close()

    def quote(self, name):
        return self.connection.ops.quote_name(name)

    def fetchall(self, sql, params):
        self.cursor.execute(sql, params)
        return self.cursor.fetchall()

    def stream(self, sql, params, batch_size):
        """The rows of one statement, ``batch_size`` at a time, without holding them all in memory.

        One statement per table, read through a server-side cursor on PostgreSQL (SQLite steps its cursor
        lazily anyway): the plan is chosen once, so it can never turn quadratic the way per-batch keyset queries
        did when statistics were stale after a bulk import (a bitmap scan and sort of every remaining row for
        each batch).
        """
        if self.vendor == "postgresql":
            self._cursors += 1
            cursor = self.connection.connection.cursor(name=f"keel_export_{self._cursors}")
        else:
            cursor = self.connection.connection.cursor()
        try:
            cursor.execute(sql if self.vendor == "postgresql" else sql.replace("%s", "?"), params)
            while rows := cursor.fetchmany(batch_size):
                yield rows
        finally:
            cursor.close()

    def select_expression(self, column):
        """SQL that returns the column already formatted for the CSV, so that most rows need no Python work."""
        col = self.quote(column.field.column)
        postgres = self.vendor == "postgresql"
        if column.type == "datetime":
            # Both give 'YYYY-MM-DDTHH:MM:SS[.ffffff]Z' (SQLite holds Django's UTC text 'YYYY-MM-DD HH:MM:SS[.ffffff]');
            # a cast and a replace cost a fraction of to_char() on PostgreSQL.
            if postgres:
                return f"replace(({col} AT TIME ZONE 'UTC')::text, ' ', 'T') || 'Z'"
            return f"replace({col}, ' ', 'T') || 'Z'"
        if column.type == "boolean":
            if postgres:
                return f"CASE WHEN {col} THEN 'true' WHEN NOT {col} THEN 'false' END"
            return f"CASE {col} WHEN 1 THEN 'true' WHEN 0 THEN 'false' END"
        if column.type == "json" and postgres:
            return f"{col}::text"
        if column.type in ("date", "uuid", "time") and postgres:
            return f"{col}::text"
        return col

    def python_converter(self, column):
        """For the few types SQL does not format uniformly: a function of the raw value, or None."""
        if self.vendor == "sqlite" and column.type == "uuid":
            return lambda value: "" if value is None else str(column.field.to_python(value))
        if column.type in ("decimal", "float", "duration", "time") and self.vendor == "sqlite":
            return lambda value: "" if value is None else _plain(column.field.to_python(value))
        return None


def _plain(value):
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


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


class _NoProgress:
    def set_total(self, total):
        pass

    def advance(self, n=1):
        pass

    def step(self, text):
        pass

    def checkpoint(self):
        pass


@dataclass
class WrittenArchive:
    """What ``write_archive`` produced: the manifest it put in the archive, and the archive's own checksum."""

    manifest: dict
    sha256: str
    size: int

    @property
    def row_counts(self):
        return {entry["entity"]: entry["rows"] for entry in self.manifest["files"] if entry["entity"] != "company"}


class _ArchiveWriter:
    def __init__(self, company, scope, fileobj, progress, batch_size):
        self.company = company
        self.scope = normalize_scope(scope)
        self.output = _HashingWriter(fileobj)
        self.progress = progress or _NoProgress()
        self.batch_size = max(1, int(batch_size or settings.KEEL_BATCH_SIZE))
        self.files = []
        self.done = 0
        self.models = models_for_scope(self.scope)

    def write(self):
        with (
            Snapshot() as snapshot,
            zipfile.ZipFile(
                self.output, "w", compression=COMPRESSION, compresslevel=COMPRESS_LEVEL, allowZip64=True
            ) as archive,
        ):
            self.snapshot, self.archive = snapshot, archive
            self.progress.step("Counting rows")
            counts = {model: self._count(model) for model in self.models}  # the first SELECT fixes the snapshot
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
        """Report rows done. A job restarted after a crash writes everything again: ``set_done`` (when the progress
        offers it) keeps its bar where the previous attempt left it until this attempt gets further."""
        self.done += rows
        if hasattr(self.progress, "set_done"):
            self.progress.set_done(self.done)
        else:
            self.progress.advance(rows)

    def _count(self, model):
        table = self.snapshot.quote(model._meta.db_table)
        sql = f"SELECT COUNT(*) FROM {table} WHERE company_id = %s"  # noqa: S608 (quoted identifiers only)
        return self.snapshot.fetchall(sql, [self.company.pk])[0][0]

    def _batches(self, model, selected, where_column):
        """Rows of the company in primary-key order, ``batch_size`` at a time (the (company, id) index gives
        them in that order without sorting)."""
        snapshot = self.snapshot
        sql = (
            f"SELECT {', '.join(selected)} FROM {snapshot.quote(model._meta.db_table)} "  # noqa: S608
            f"WHERE {snapshot.quote(where_column)} = %s ORDER BY {snapshot.quote(model._meta.pk.column)}"
        )
        return snapshot.stream(sql, [self.company.pk], self.batch_size)

    def _write_table(self, model, entity, where_column, expected_rows):
        cols = columns(model)
        selected = [self.snapshot.select_expression(c) for c in cols]
        convert = self._row_converter(entity, cols)
        path = f"{entity}.csv"
        self.progress.step(f"Writing {path}")
        digest, rows_written = hashlib.sha256(), 0
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow([c.name for c in cols])
        with self.archive.open(path, "w", force_zip64=True) as entry:
            self._flush(buffer, entry, digest)
            for rows in self._batches(model, selected, where_column):
                writer.writerows(map(convert, rows) if convert else rows)
                self._flush(buffer, entry, digest)
                rows_written += len(rows)
                self._advance(len(rows))
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
            with self.archive.open("attachments/index.csv", "w", force_zip64=True) as entry:
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
        with source, self.archive.open(path, "w", force_zip64=True) as entry:
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
            "files": self.files,
        }


def _describe(model):
    if graph.label(model) == "accounts.Company":
        return "The company itself."
    doc = (model.__doc__ or "").strip()
    generated = doc.startswith(f"{model.__name__}(")  # Django's automatic docstring lists the fields
    return doc.splitlines()[0] if doc and not generated else str(model._meta.verbose_name_plural).capitalize() + "."


def write_archive(company, scope, fileobj, progress=None, batch_size=None):
    """Write the export archive of ``company`` for ``scope`` (list of SCOPES names, None = all) into ``fileobj``.

    ``fileobj`` is any binary file open for writing; nothing is seeked. ``progress`` is optional and offers
    ``set_total(n)``, ``set_done(n)`` or ``advance(n)``, ``step(text)`` and ``checkpoint()`` (as
    keel.jobs.progress.Progress does); ``checkpoint()`` may raise to stop the export.
    Returns a WrittenArchive: the manifest, and the SHA-256 and size of the bytes written.
    """
    return _ArchiveWriter(company, scope, fileobj, progress, batch_size).write()


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
        "",
        "Files",
        "-----",
    ]
    for entry in manifest["files"]:
        lines.append(f"{entry['path']}  ({entry['rows']} rows)")
        lines.append(f"    {entry.get('description', '')}")
        lines.append(f"    columns: {', '.join(c['name'] for c in entry['columns'])}")
    return "\n".join(lines) + "\n"
