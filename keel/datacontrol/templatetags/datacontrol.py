from django import template

from keel.datacontrol.labels import duration_text, entity_label, scope_label
from keel.jobs.templatetags.jobs import thousands

register = template.Library()
register.filter("entity_label", entity_label)
register.filter("scope_label", scope_label)
register.filter("duration_text", duration_text)
register.filter("thousands", thousands)


@register.filter
def scope_labels(codes):
    """``["contacts", "audit_log"]`` → "Contacts, Audit log"."""
    return ", ".join(scope_label(code) for code in codes)
