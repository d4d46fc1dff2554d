from keel.accounts.access import can_delete_all_crm_records
from keel.accounts.models import Notice


def navigation(request):
    """What the menu shows. The server checks the same permissions again on every page and endpoint."""
    user = getattr(request, "user", None)
    if not user or not user.is_authenticated or not getattr(request, "company", None):
        return {}
    return {
        "company": request.company,
        "unread_notices": Notice.objects.filter(user=user, read_at__isnull=True).count(),
        "nav": {
            "contacts": True,
            "marketing": True,
            "integrations": user.has_perm_code("manage_integrations"),
            "users": user.has_perm_code("manage_users"),
            "roles": user.has_perm_code("manage_roles"),
            "audit": user.has_perm_code("view_audit_log"),
            "data_management": user.is_company_admin,
            "delete_all_crm": can_delete_all_crm_records(user),
        },
    }
