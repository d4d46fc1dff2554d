"""The tenant graph, derived from Django's model metadata (docs/export.md, "What goes in: derived from the tenant
graph").

Nothing here lists tenant models by hand: every installed model with a non-null ``company`` foreign key is
tenant-owned, and the order in which export writes and deletion erases tables follows their foreign keys. A model
added later is therefore exported and deleted without touching the exporter or the eraser; a test fails when a
model is neither tenant-owned nor one of the GLOBAL_MODELS below.
"""

import re
from functools import cache

from django.apps import apps
from django.db import models

# Models that do not belong to one company, each with the reason it is not exported or deleted with a company.
GLOBAL_MODELS = {
    "accounts.Company": "the tenant root itself: exported as company.csv, deleted last by company deletion",
    "accounts.Plan": "the plan catalogue, shared by all companies",
    "accounts.AttemptCount": "failed-attempt counts of the throttles; keyed digests and numbers only, they expire",
    "sessions.Session": "Django's session table; a company's rows are ended through its UserSession rows "
    "(do_end_sessions) when its deletion starts",
    "datacontrol.DeletionReceipt": "the tombstone of a deleted company; holds no personal data and must outlive it",
    "auth.Permission": "Django framework table, unused by Keel (roles hold Keel's own permission codes)",
    "auth.Group": "Django framework table, unused by Keel",
    "auth.Group_permissions": "Django framework table, unused by Keel",
    "contenttypes.ContentType": "Django framework table describing models, not data",
    "django_tasks_database.DBTaskResult": "the task queue; a task's only argument is a job, campaign or e-mail id, "
    "the data is in its row",
    "mail.OutgoingEmail": "the e-mail outbox; bodies are emptied once sent, a company's rows are erased by its "
    "deletion's final step, and the deletion's system confirmation must outlive the company",
    "jobs.JobOutboxEntry": "completion side effects still to deliver, deleted once delivered; a company deletion "
    "drops its company's entries, and its own confirmation must outlive the company",
}


def label(model):
    return f"{model._meta.app_label}.{model.__name__}"


def is_tenant_model(model):
    try:
        field = model._meta.get_field("company")
    except Exception:
        return False
    return field.many_to_one and not field.null and label(field.related_model) == "accounts.Company"


def entity_name(model):
    """File and API name of a model's rows: ``ContactEvent`` → ``contact_events``."""
    explicit = getattr(model, "entity_name", None)
    if explicit:
        return explicit
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", model.__name__).lower()
    return snake + "s"


def _concrete_models():
    return [m for m in apps.get_models(include_auto_created=True) if not m._meta.proxy]


def tenant_parents(model):
    """Tenant models this model points at (other than Company and itself)."""
    parents = set()
    for field in model._meta.concrete_fields:
        if isinstance(field, models.ForeignKey):
            target = field.related_model
            if target is not model and is_tenant_model(target):
                parents.add(target)
    return parents


@cache
def tenant_models():
    """Every tenant-owned model, parents before children (the order export writes and import restores)."""
    remaining = {m for m in _concrete_models() if is_tenant_model(m)}
    ordered = []
    while remaining:
        ready = sorted((m for m in remaining if not (tenant_parents(m) & remaining)), key=label)
        if not ready:
            raise RuntimeError(f"foreign-key cycle among tenant models: {sorted(map(label, remaining))}")
        ordered.extend(ready)
        remaining -= set(ready)
    return tuple(ordered)


def deletion_order(subset=None):
    """Children before parents, so that every batch deletes rows nothing else points at any more."""
    chosen = tenant_models() if subset is None else tuple(m for m in tenant_models() if m in set(subset))
    return tuple(reversed(chosen))


@cache
def crm_models():
    """The CRM subgraph: Contact and every tenant model that reaches Contact through foreign keys."""
    contact = apps.get_model("contacts", "Contact")
    reaching = {contact}
    changed = True
    while changed:
        changed = False
        for model in tenant_models():
            if model not in reaching and tenant_parents(model) & reaching:
                reaching.add(model)
                changed = True
    return tuple(m for m in tenant_models() if m in reaching)


def unclassified_models():
    """Installed models that are neither tenant-owned nor declared global: must always be empty."""
    return sorted(label(m) for m in _concrete_models() if not is_tenant_model(m) and label(m) not in GLOBAL_MODELS)


def secret_columns(model):
    """Columns that never leave the system (exports, API, logs), as marked on the model."""
    return set(getattr(model, "secret_fields", ()))
