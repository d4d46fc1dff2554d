"""Bulk writes built from the models' metadata, without a model instance per row: an import's contacts, events and
tag links, a restore's rows (docs/import.md, docs/restore.md).

Building thousands of model instances per batch would cost several times the database's own work. Three layers:

- ``prepare`` turns dicts (by attname) into tuples of database values, with each field's default for a column a
  dict leaves out, JSON and times converted as Django converts them;
- ``insert_values`` writes such tuples with multi-row ``INSERT`` statements (optionally ``RETURNING`` columns),
  ``copy_values`` with PostgreSQL's ``COPY … FROM STDIN``, and ``reserve_ids`` draws ids from a table's sequence
  for rows that go in with ``COPY``;
- ``insert_rows`` and ``load_rows`` put them together for dicts: the latter returns the new ids, in order.
"""

import operator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from django.db import DEFAULT_DB_ALIAS, connections, models, transaction
from django.db.models.constants import OnConflict

MAX_PARAMETERS = 30000  # within every backend's limit on the parameters of one statement


def _db():
    return connections[DEFAULT_DB_ALIAS]  # the connection itself: the proxy costs a lookup per attribute


@contextmanager
def batch_transaction():
    """The transaction of one batch of a job that redoes lost batches (an import, a restore). On PostgreSQL its
    commit does not wait for the disk (``synchronous_commit = off``), which cost a restore a quarter of its time in
    commits of a few thousand rows each.

    Safe because a crash of the database server can lose only the last such commits, each whole, with the job
    position committed in them; the job then resumes from the position that survived (an import) or starts again
    (a restore). The job's end is committed as usual, and PostgreSQL writes its log in order: once the end is on
    disk, so is every batch before it. The eraser's batches do the same (keel/datacontrol/eraser.py).
    """
    with transaction.atomic():
        db = _db()
        if db.vendor == "postgresql":
            with db.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit = off")
        yield


def writable_fields(model):
    return [f for f in model._meta.concrete_fields if not f.primary_key]


class JSONText(str):
    """A JSON document already encoded, such as an archive's cell: written as it is, and the database checks it
    (PostgreSQL parses ``jsonb``; Django gives a JSON column a ``JSON_VALID`` check on SQLite)."""


def _adapter(field, db):
    """How a Python value becomes a database value for this column, or None when it needs no conversion (JSON,
    times and UUIDs depend on the backend). UUIDs are converted once each: a batch repeats the same few."""
    if isinstance(field, models.JSONField):
        ops, encoder = db.ops, field.encoder
        return lambda value: str(value) if type(value) is JSONText else ops.adapt_json_value(value, encoder)
    if isinstance(field, models.DateTimeField) and db.vendor in ("sqlite", "postgresql"):
        return _aware_datetime_adapter(field, db)
    if isinstance(field, models.UUIDField):
        converted = {}

        def adapt(value):
            if value not in converted:
                converted[value] = field.get_db_prep_save(value, db)
            return converted[value]

        return adapt
    return None


def _aware_datetime_adapter(field, db):
    """Aware datetimes (what the archive and import readers produce) straight to what Django's backend would
    store: unchanged for PostgreSQL, the naive text in the connection's time zone for SQLite. Anything else goes
    through the field. Django's own path costs about 15 µs a value, most of a restored event's preparation."""
    sqlite = db.vendor == "sqlite"
    zone = db.timezone if sqlite else None
    utc_text = sqlite and zone.utcoffset(None) == timedelta(0)

    def adapt(value):
        if type(value) is datetime and value.tzinfo is not None:
            if not sqlite:
                return value
            if utc_text and value.tzinfo is UTC:  # "… 12:00:00.5+00:00" without its offset, as str(naive) gives
                return value.isoformat(" ")[:-6]
            return str(value.astimezone(zone).replace(tzinfo=None))
        return field.get_db_prep_save(value, db)

    return adapt


def prepare(model, rows):
    """``(fields, tuples)``: the dicts of ``rows`` (by attname) as tuples of database values, one per writable
    field of ``model``; a column a dict leaves out gets the field's default."""
    db = _db()
    fields = writable_fields(model)
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
        values.append(pick(merged) if len(names) > 1 else (pick(merged),))
    return fields, values


def _column_list(model, names):
    quote = _db().ops.quote_name
    return ", ".join(quote(model._meta.get_field(name).column) for name in names)


def insert_values(model, names, rows, *, returning=(), ignore_conflicts=False):
    """Multi-row ``INSERT`` of ``rows`` (tuples of database values in the order of the attnames ``names``).
    Returns the rows the statements return for the attnames ``returning`` (in the order written), else []."""
    if not rows:
        return []
    db = _db()
    quote = db.ops.quote_name
    fields = [model._meta.get_field(name) for name in names]
    on_conflict = OnConflict.IGNORE if ignore_conflicts else None
    head = (
        f"{db.ops.insert_statement(on_conflict=on_conflict)} {quote(model._meta.db_table)} "
        f"({_column_list(model, names)}) VALUES "
    )
    tail = db.ops.on_conflict_suffix_sql(fields, on_conflict, None, None) if on_conflict else ""
    if returning:
        tail += f" RETURNING {_column_list(model, returning)}"
    placeholders = f"({', '.join(['%s'] * len(names))})"
    per_statement = max(1, min(1000, MAX_PARAMETERS // len(names)))
    returned = []
    with db.cursor() as cursor:
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            # Identifiers come from model metadata through quote_name; values are parameters.
            cursor.execute(head + ", ".join([placeholders] * len(chunk)) + tail, [v for row in chunk for v in row])
            if returning:
                returned.extend(cursor.fetchall())
    return returned


def reserve_ids(model, count):
    """``count`` new primary keys drawn from the table's sequence (PostgreSQL), for rows written with COPY."""
    with _db().cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [model._meta.db_table, model._meta.pk.column, count],
        )
        return [row[0] for row in cursor.fetchall()]


def copy_values(model, names, rows):
    """``COPY … FROM STDIN`` of tuples of database values (PostgreSQL), in the connection's own transaction; its
    errors become Django's (a unique violation is an ``IntegrityError``, as from any other statement)."""
    db = _db()
    with db.wrap_database_errors, db.cursor() as cursor:
        sql = f"COPY {db.ops.quote_name(model._meta.db_table)} ({_column_list(model, names)}) FROM STDIN"
        with cursor.cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)


def insert_rows(model, rows, ignore_conflicts=False):
    """INSERT the given dicts (by attname); columns a dict leaves out get the field's default."""
    fields, values = prepare(model, rows)
    insert_values(model, [f.attname for f in fields], values, ignore_conflicts=ignore_conflicts)


def load_rows(model, rows):
    """Write the given dicts (by attname) and return their new primary keys, in order: one ``COPY`` with ids
    reserved beforehand on PostgreSQL, multi-row ``INSERT … RETURNING`` elsewhere."""
    if not rows:
        return []
    fields, values = prepare(model, rows)
    names = [f.attname for f in fields]
    if _db().vendor == "postgresql":
        ids = reserve_ids(model, len(values))
        copy_values(model, [model._meta.pk.attname, *names], ((pk, *row) for pk, row in zip(ids, values, strict=True)))
        return ids
    return [row[0] for row in insert_values(model, names, values, returning=[model._meta.pk.attname])]
