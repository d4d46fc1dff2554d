"""Who may do what. Every view and endpoint asks here; the menu only mirrors the answer."""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied

from keel.errors import Forbidden


def require_permission(user, code):
    if not user.has_perm_code(code):
        raise Forbidden("Your role does not allow this action.", code="permission_denied")


def require_company_admin(user, code=None):
    """For the features that are for Company Administrators alone, optionally also gated by a permission."""
    if not user.is_company_admin or (code and not user.has_perm_code(code)):
        raise Forbidden("Only a Company Administrator with the required permission can do this.")


def can_delete_all_crm_records(user):
    return user.is_company_admin and user.has_perm_code("delete_all_crm_records")


def company_page(permission=None, admin_only=False):
    """Decorator for pages: a logged-in user of an active company, with the permission if one is named."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            try:
                if admin_only:
                    require_company_admin(request.user, permission)
                elif permission:
                    require_permission(request.user, permission)
            except Forbidden as exc:
                # Django answers 403 with the 403.html page, which shows this sentence.
                raise PermissionDenied(exc.message) from None
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
