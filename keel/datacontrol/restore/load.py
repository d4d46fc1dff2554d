"""Writing an archive's rows into a company, with new ids (docs/restore.md, What comes back).

Models are restored parents first, in the tenant graph's order, so every foreign key is mapped through the ids
already given to its target. Each batch is one short transaction. A model added later is restored by the generic
path without a change here; only models whose rows need more than new ids (users, roles, tokens, integrations,
attachments, campaigns and workflows) have an adapter in ``adapters.py``.
"""

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models import ForeignKey
from django.utils import timezone

from keel.datacontrol import graph
from keel.datacontrol.restore import adapters

SKIPPED_LISTED = 1000  # rows named one by one in the report; beyond that they are counted per entity


class Restorer:
    def __init__(self, company, archive, ids, *, actor, invite_users=False, progress=None, batch_size=None):
        self.company = company
        self.archive = archive
        self.ids = ids
        self.actor = actor
        self.invite_users = invite_users
        self.progress = progress
        self.batch_size = max(1, int(batch_size or settings.KEEL_BATCH_SIZE))
        self.rows = {}
        self.skipped = []
        self.skipped_total = {}
        self.files = 0
        self.invited = []

    def models(self):
        return [m for m in graph.tenant_models() if self.archive.has(graph.entity_name(m))]

    def run(self):
        """Restore every model of the archive; ``progress`` advances by one per row read."""
        for model in self.models():
            self._restore_model(model)
        return self.report()

    def report(self):
        return {
            "rows": dict(self.rows),
            "files": self.files,
            "skipped": self.skipped,
            "skipped_total": dict(self.skipped_total),
            "source": self.archive.source,
        }

    def skip(self, entity, row_id, reason):
        self.skipped_total[entity] = self.skipped_total.get(entity, 0) + 1
        if len(self.skipped) < SKIPPED_LISTED:
            self.skipped.append({"entity": entity, "row": row_id, "reason": reason})

    def _restore_model(self, model):
        entity = graph.entity_name(model)
        adapter = adapters.for_model(model)
        self.rows.setdefault(entity, 0)
        if self.progress:
            self.progress.step(f"Restoring {entity.replace('_', ' ')}")
        plain = type(adapter) is adapters.Adapter
        for batch in self.archive.rows(entity, self.batch_size):
            rows = self._map_references(model, entity, batch)
            if plain:
                old_ids = [row.pop("id", None) for row in rows]
                with transaction.atomic():
                    new_ids = insert_rows(model, self.company.pk, rows)
                pairs = list(zip(old_ids, new_ids, strict=True))
            else:
                objects = adapter.build(self, model, rows)
                with transaction.atomic():
                    created = model.objects.bulk_create([obj for _, obj in objects])
                    adapter.after_create(self, objects)
                pairs = [(old, obj.pk) for (old, _), obj in zip(objects, created, strict=True)]
            self.ids.assign(entity, pairs)
            self.rows[entity] += len(pairs)
            if self.progress:
                self.progress.advance(len(batch))
                self.progress.checkpoint()

    def _map_references(self, model, entity, batch):
        """The batch with every foreign key turned into the new id of its target; rows that cannot keep a
        required reference are left out, each with its reason in the report."""
        fields = _fields_by_column(model)
        present = {c["name"] for c in self.archive.files[entity]["columns"]}
        keep = [{k: v for k, v in row.items() if k in fields or k == "id"} for row in batch]
        for column, field in fields.items():
            if isinstance(field, ForeignKey) and column in present:
                keep = self._map_column(entity, keep, column, field)
        return keep

    def _map_column(self, entity, rows, column, field):
        target = graph.entity_name(field.related_model) if graph.is_tenant_model(field.related_model) else None
        values = {row[column] for row in rows if row[column] is not None}
        mapping = self.ids.new_ids(target, values) if target and self.archive.has(target) else {}
        kept = []
        for row in rows:
            old = row[column]
            if old is None or old in mapping:
                row[column] = None if old is None else mapping[old]
                kept.append(row)
            elif field.null:
                row[column] = None  # its target was left out of the archive or skipped: the link goes, the row stays
                kept.append(row)
            else:
                why = "was not restored" if target and self.archive.has(target) else "is not in the archive's scope"
                self.skip(entity, row.get("id"), f"the {target or field.name} row it belongs to {why}")
        return kept


def _fields_by_column(model):
    return {f.attname: f for f in model._meta.concrete_fields if f.name != "company" and not f.primary_key}


def insert_rows(model, company_id, rows):
    """Insert ``rows`` (``{attname: value}``) as rows of ``company_id`` and return their new ids, in order.

    What ``bulk_create`` does for a model without save logic, minus building an instance per row: each value
    prepared by its field, defaults for the columns the archive lacks (a field added after the export). PostgreSQL
    takes the batch as one ``COPY`` with ids drawn from the table's sequence beforehand; SQLite as multi-row
    ``INSERT … RETURNING id`` statements. Measured in the restore benchmark (docs/benchmarks.md).
    """
    if not rows:
        return []
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    prepare = [_preparer(field, company_id) for field in fields]
    if connection.vendor == "postgresql":
        return _copy_rows(model, fields, prepare, rows)
    return _insert_returning(model, fields, prepare, rows)


def _copy_rows(model, fields, prepare, rows):
    quote, table, pk = connection.ops.quote_name, model._meta.db_table, model._meta.pk.column
    columns = ", ".join(quote(c) for c in [pk, *(f.column for f in fields)])
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)", [table, pk, len(rows)]
        )
        new_ids = [row[0] for row in cursor.fetchall()]
        # Identifiers come from model metadata through quote_name; the rows travel as COPY data.
        with cursor.cursor.copy(f"COPY {quote(table)} ({columns}) FROM STDIN") as copy:
            for new_id, row in zip(new_ids, rows, strict=True):
                copy.write_row((new_id, *(fn(row) for fn in prepare)))
    return new_ids


def _insert_returning(model, fields, prepare, rows):
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    head = f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES "  # noqa: S608 (names from metadata)
    tail = f" RETURNING {quote(model._meta.pk.column)}"
    one = "(" + ", ".join(["%s"] * len(fields)) + ")"
    per_statement = max(1, connection.ops.bulk_batch_size(fields, rows))
    new_ids = []
    with connection.cursor() as cursor:
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            values = [fn(row) for row in chunk for fn in prepare]
            cursor.execute(head + ", ".join([one] * len(chunk)) + tail, values)
            new_ids.extend(row[0] for row in cursor.fetchall())
    return new_ids


def _preparer(field, company_id):
    """A function from a row to the database value of ``field``, as ``bulk_create`` would have prepared it."""
    if field.attname == "company_id":
        return lambda row: company_id
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        now = field.get_db_prep_save(timezone.now(), connection)
        return lambda row: now
    name, default = field.attname, field.get_default()
    if _stored_as_read(field):
        return lambda row: row.get(name, default)
    database = connections[DEFAULT_DB_ALIAS]  # the connection itself, not the per-thread proxy, in this hot loop

    def prepare(row):
        return field.get_db_prep_save(row.get(name, default), database)

    return prepare


# Columns whose value, as the archive reader types it (str, int, bool or None), is what the database stores: their
# field's preparation would hand it back unchanged. Times, JSON, decimals and UUIDs are prepared by their field.
STORED_AS_READ = {
    "CharField",
    "TextField",
    "SlugField",
    "EmailField",
    "BooleanField",
    "IntegerField",
    "BigIntegerField",
    "SmallIntegerField",
    "PositiveIntegerField",
    "PositiveBigIntegerField",
    "PositiveSmallIntegerField",
    "AutoField",
    "BigAutoField",
}


def _stored_as_read(field):
    target = field.target_field if isinstance(field, ForeignKey) else field
    kind = target.get_internal_type()
    # PostgreSQL stores the archive's times (aware, UTC) as they are; SQLite needs them as text.
    return kind in STORED_AS_READ or (kind == "DateTimeField" and connection.vendor == "postgresql")
