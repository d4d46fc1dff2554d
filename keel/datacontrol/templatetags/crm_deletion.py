from django import template

register = template.Library()


@register.simple_tag(takes_context=True)
def crm_deletion_panel(context):
    """Banner with the status bar while all CRM records are being deleted, and the Delete all CRM Records button
    for those allowed to see it. Rendered at the top of the CRM Contacts page."""
    return ""
