from django.conf import settings
from django.contrib import auth, messages

from keel.accounts.sessions import note_last_seen

COMPANY_DELETING_MESSAGE = "This company's data is being deleted."


class CompanyMiddleware:
    """Binds ``request.company`` to the logged-in user's company, and ends the session of anyone whose company is
    no longer active or who was deactivated: access stops at the next request, not when the cookie expires."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.company = None
        request.ended_by_company_deletion = False
        user = request.user
        if user.is_authenticated:
            if not user.company.is_active:
                auth.logout(request)
                request.ended_by_company_deletion = True
            else:
                request.company = user.company
                note_last_seen(request)
        elif _session_ended_by_company_deletion(request):
            request.ended_by_company_deletion = True
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        # Here, not in __call__: this middleware runs before MessageMiddleware has set up request._messages.
        if getattr(request, "ended_by_company_deletion", False):
            messages.error(request, COMPANY_DELETING_MESSAGE)
        return None


def _session_ended_by_company_deletion(request):
    """A browser whose session cookie names a session that company deletion ended (the session row is gone, its
    UserSession row stays until the deletion erases it). One query, and only for such a stale cookie."""
    from keel.accounts.models import Company, UserSession

    key = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
    if not key or request.session.session_key:
        return False
    return UserSession.objects.filter(session_key=key, company__status=Company.Status.DELETING).exists()
