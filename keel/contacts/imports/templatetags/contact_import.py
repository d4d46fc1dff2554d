from django import template
from django.urls import reverse
from django.utils.html import format_html

from keel.accounts.permissions import IMPORT_CONTACTS
from keel.contacts.guards import crm_deletion_job
from keel.jobs.models import DataJob
from keel.jobs.runner import active_job

register = template.Library()

REASONS = {
    DataJob.Kind.CRM_DELETION: "Imports are not possible while all CRM records are being deleted.",
    DataJob.Kind.COMPANY_DELETION: "Imports are not possible while the company's data is being deleted.",
    DataJob.Kind.RESTORE: "Imports are not possible while a restore from an export is in progress.",
    DataJob.Kind.CONTACT_DELETION: "Imports are not possible while contacts are being deleted.",
}


@register.simple_tag(takes_context=True)
def import_button(context):
    """The CRM Contacts page's Import button (disabled, with the reason, while imports are refused)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    company = getattr(request, "company", None)
    if company is None or not user.is_authenticated or not user.has_perm_code(IMPORT_CONTACTS):
        return ""
    blocking = crm_deletion_job(company) or active_job(company, [DataJob.Kind.CONTACT_DELETION])
    if blocking is not None:
        reason = REASONS[blocking.kind]
        return format_html(
            '<span class="button secondary disabled import-button" aria-disabled="true" title="{}">Import</span> '
            '<span class="muted import-disabled-reason">{}</span>',
            reason,
            reason,
        )
    return format_html('<a class="button secondary import-button" href="{}">Import</a>', reverse("contact_import"))
