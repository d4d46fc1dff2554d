"""Plain multi-row INSERT statements built from the models' metadata, for bulk writes (an import's tag links).

Building thousands of model instances per batch would cost several times the database's own work.
"""

import operator

from django.db import DEFAULT_DB_ALIAS, connections, models
from django.db.models.constants import OnConflict


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
