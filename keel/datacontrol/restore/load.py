"""Writing an archive's rows into a company, with new ids (docs/restore.md, What comes back).

Models are restored parents first, in the tenant graph's order, so every foreign key is mapped through the ids
already given to its target. Each batch is one short transaction. A model added later is restored by the generic
path without a change here; only models whose rows need more than new ids (users, roles, tokens, integrations,
attachments, campaigns and workflows) have an adapter in ``adapters.py``.
"""

from django.conf import settings
from django.db import DataError, IntegrityError
from django.db.models import ForeignKey

from keel.bulk import batch_transaction, load_rows
from keel.datacontrol import graph
from keel.datacontrol.restore import adapters
from keel.datacontrol.restore.archive import ArchiveCorrupt

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
        for batch in self.archive.rows(entity, self.batch_size, json_as_text=plain):
            rows = self._map_references(model, entity, batch)
            if plain:
                old_ids = [row.pop("id", None) for row in rows]
                for row in rows:
                    row["company_id"] = self.company.pk
                new_ids = self._load(model, entity, rows)
                pairs = list(zip(old_ids, new_ids, strict=True))
            else:
                objects = adapter.build(self, model, rows)
                with batch_transaction():
                    created = model.objects.bulk_create([obj for _, obj in objects])
                    adapter.after_create(self, objects)
                pairs = [(old, obj.pk) for (old, _), obj in zip(objects, created, strict=True)]
            self.ids.assign(entity, pairs)
            self.rows[entity] += len(pairs)
            if self.progress:
                self.progress.advance(len(batch))
                self.progress.checkpoint()

    def _load(self, model, entity, rows):
        """One batch written in its own transaction. The database checks what the archive reader passed through
        as text (JSON cells): a value it refuses names the file, like any other damage the check did not see."""
        try:
            with batch_transaction():
                return load_rows(model, rows)
        except (DataError, IntegrityError) as exc:
            path = self.archive.files[entity]["path"]
            reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            raise ArchiveCorrupt(f"{path}: a row cannot be stored ({reason}).", file=path) from None

    def _map_references(self, model, entity, batch):
        """The batch with every foreign key turned into the new id of its target; rows that cannot keep a
        required reference are left out, each with its reason in the report."""
        fields = _fields_by_column(model)
        present = {c["name"] for c in self.archive.files[entity]["columns"]}
        # The company's column (the target company is set by the writer) and columns this Keel no longer has.
        unknown = present - set(fields) - {"id"}
        for row in batch:
            for column in unknown:
                del row[column]
        for column, field in fields.items():
            if isinstance(field, ForeignKey) and column in present:
                batch = self._map_column(entity, batch, column, field)
        return batch

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
