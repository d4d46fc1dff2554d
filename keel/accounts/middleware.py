from django.contrib import auth, messages

COMPANY_DELETING_MESSAGE = "This company's data is being deleted."


class CompanyMiddleware:
    """Binds ``request.company`` to the logged-in user's company, and ends the session of anyone whose company is
    no longer active or who was deactivated: access stops at the next request, not when the cookie expires."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.company = None
        user = request.user
        if user.is_authenticated:
            if not user.company.is_active:
                auth.logout(request)
                messages.error(request, COMPANY_DELETING_MESSAGE)
            else:
                request.company = user.company
        return self.get_response(request)
