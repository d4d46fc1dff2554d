from django import template

register = template.Library()


@register.simple_tag(takes_context=True)
def import_button(context):
    """The CRM Contacts page's Import button (disabled, with the reason, while imports are refused)."""
    return ""
