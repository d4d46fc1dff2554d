"""Checking an e-mail address and password, for the login form and the API alike.

Failed attempts are counted per e-mail address and per client address in Django's cache; once either count reaches
KEEL_LOGIN_ATTEMPTS inside KEEL_LOGIN_WINDOW_SECONDS, every attempt for that e-mail or from that address is refused
until the window ends, even with the right password (otherwise guessing would simply go on).
"""

import hashlib
import math
import time

from django.conf import settings
from django.core.cache import cache

from keel.accounts.middleware import COMPANY_DELETING_MESSAGE
from keel.accounts.models import User
from keel.audit.actions import record
from keel.errors import Forbidden, KeelError, RateLimited

INCORRECT_CREDENTIALS_MESSAGE = "Incorrect e-mail or password."


class InvalidCredentials(KeelError):
    status = 401
    code = "invalid_credentials"


def client_ip(request):
    # REMOTE_ADDR only: a forwarded-for header is chosen by the client and would let it dodge the throttle.
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def normalize_email(email):
    return (email or "").strip().lower()


def _throttle_keys(email, ip):
    email_digest = hashlib.sha256(email.encode()).hexdigest()
    return [f"keel:login-failures:email:{email_digest}", f"keel:login-failures:ip:{ip}"]


def _minutes(seconds):
    minutes = max(1, math.ceil(seconds / 60))
    return f"{minutes} minute" if minutes == 1 else f"{minutes} minutes"


def ensure_not_throttled(email, ip):
    now = time.time()
    for key in _throttle_keys(email, ip):
        state = cache.get(key)
        if state and state["count"] >= settings.KEEL_LOGIN_ATTEMPTS and state["until"] > now:
            wait = state["until"] - now
            raise RateLimited(
                f"Too many failed attempts. Try again in {_minutes(wait)}.", retry_after_seconds=math.ceil(wait)
            )


def count_failure(email, ip):
    now = time.time()
    for key in _throttle_keys(email, ip):
        state = cache.get(key)
        if not state or state["until"] <= now:
            state = {"count": 0, "until": now + settings.KEEL_LOGIN_WINDOW_SECONDS}
        state["count"] += 1
        cache.set(key, state, timeout=math.ceil(state["until"] - now) + 1)


def forget_failures(email):
    # Only the e-mail's count: a success must not reset the address's count, or one valid account would let its
    # owner keep guessing other people's passwords.
    cache.delete(_throttle_keys(email, "")[0])


def check_credentials(email, password, ip):
    """The user these credentials belong to, or a KeelError saying why not (401, 403 or 429)."""
    email = normalize_email(email)
    ensure_not_throttled(email, ip)
    user = User.objects.select_related("company", "role").filter(email=email).first()
    if user is None:
        User().set_password(password)  # same work as a real check, so timing does not reveal which e-mails exist
    if user is None or not password or not user.check_password(password):
        count_failure(email, ip)
        if user is not None and user.company.is_active:
            record(user.company, None, "user.login_failed", user, email=email, ip=ip)
        raise InvalidCredentials(INCORRECT_CREDENTIALS_MESSAGE)
    if not user.company.is_active:
        raise Forbidden(COMPANY_DELETING_MESSAGE, code="company_deleting")
    if not user.is_active:
        raise Forbidden("This account has been deactivated. Ask your Company Administrator.", code="user_deactivated")
    forget_failures(email)
    return user
