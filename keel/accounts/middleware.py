from django.contrib import auth, messages

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
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        # Here, not in __call__: this middleware runs before MessageMiddleware has set up request._messages.
        if getattr(request, "ended_by_company_deletion", False):
            messages.error(request, COMPANY_DELETING_MESSAGE)
        return None
