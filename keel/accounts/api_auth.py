from django.middleware.csrf import CsrfViewMiddleware
from django.utils import timezone

from keel.errors import Forbidden

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def user_for_token(raw):
    from keel.accounts.models import ApiToken

    token = (
        ApiToken.objects.select_related("user__role", "user__company")
        .filter(token_hash=ApiToken.hash(raw), revoked_at__isnull=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


def _csrf_failure(request):
    return CsrfViewMiddleware(lambda r: None).process_view(request, None, (), {})


def authenticate(request):
    """API authentication: ``Authorization: Bearer <token>`` or the session cookie (with CSRF for writes).

    Returns the user, or None (401). A user who was deactivated, or whose company is being deleted, is nobody.
    """
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        user = user_for_token(header[7:].strip())
    elif request.user.is_authenticated:
        if request.method not in SAFE_METHODS and _csrf_failure(request) is not None:
            raise Forbidden("CSRF check failed: send the csrftoken cookie's value in X-CSRFToken.", code="csrf_failed")
        user = request.user
    else:
        return None
    if user is None or not user.is_active or not user.company.is_active:
        return None
    request.company = user.company
    request.user = user
    return user
