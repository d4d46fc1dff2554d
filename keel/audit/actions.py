from keel.audit.models import AuditEvent


def record(company, actor, action, target=None, **metadata):
    """Append one audit event. ``target`` is a model instance or None; metadata must hold no secrets."""
    return AuditEvent.objects.create(
        company_id=company.pk if hasattr(company, "pk") else company,
        actor=actor if getattr(actor, "pk", None) else None,
        actor_label=getattr(actor, "email", "") or (actor if isinstance(actor, str) else ""),
        action=action,
        target_type=target._meta.model_name if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        metadata=metadata,
    )
