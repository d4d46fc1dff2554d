"""Reading the audit log: newest first, keyset-paginated on the id (no OFFSET, no count)."""

from functools import cache

from django.apps import apps

from keel.audit.models import AuditEvent

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


def audit_page(company, before=None, limit=DEFAULT_PAGE_SIZE):
    """One page of events older than the id ``before`` (None: the newest), and the cursor of the next page."""
    limit = max(1, min(int(limit), MAX_PAGE_SIZE))
    events = AuditEvent.objects.filter(company=company).select_related("actor")
    if before is not None:
        events = events.filter(pk__lt=before)
    rows = list(events.order_by("-id")[: limit + 1])
    next_before = rows[limit - 1].pk if len(rows) > limit else None
    return rows[:limit], next_before


def event_dict(event):
    return {
        "id": event.pk,
        "created_at": event.created_at,
        "actor": {"id": event.actor_id, "email": event.actor_label} if (event.actor_id or event.actor_label) else None,
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "metadata": event.metadata,
    }


@cache
def _verbose_names():
    return {model._meta.model_name: str(model._meta.verbose_name) for model in apps.get_models()}


def target_label(event):
    """``integration connection #3`` rather than the stored ``integrationconnection``."""
    if not event.target_type:
        return ""
    return f"{_verbose_names().get(event.target_type, event.target_type)} #{event.target_id}"
