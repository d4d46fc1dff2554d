"""Which tenant models an export holds, in which data scope, and with which columns (docs/export.md, "What goes
in: derived from the tenant graph").

What is exported comes from the tenant graph, not from a list kept by hand: every tenant model is placed in one
data scope by the rules of ``scope_of_models()``, its columns are its concrete fields minus the secret ones, and
its file is named after ``graph.entity_name()``. A model added later is therefore exported without touching
this module, and a test fails if a model can be placed in no scope and is not excluded with a reason.
"""

import os
from dataclasses import dataclass, field

from django.apps import apps
from django.db import models

from keel.datacontrol import graph

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
    "datacontrol.BackupSchedule": "the backup settings hold the bucket's credentials and the passphrase, which never "
    "leave Keel; a restored company sets its own schedule, and every change to it is in the audit log",
}


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
