"""Checking an e-mail address and password, for the login form and the API alike.

Failed attempts are counted per e-mail address and per client address (keel.accounts.throttle); once either count
reaches KEEL_LOGIN_ATTEMPTS inside KEEL_LOGIN_WINDOW_SECONDS, every attempt for that e-mail or from that address is
refused until the window ends, even with the right password (otherwise guessing would simply go on).
"""

import hashlib

from keel.accounts.middleware import COMPANY_DELETING_MESSAGE
from keel.accounts.models import User
from keel.accounts.throttle import FailureThrottle
from keel.audit.actions import record
from keel.errors import Forbidden, KeelError

INCORRECT_CREDENTIALS_MESSAGE = "Incorrect e-mail or password."
LOGIN_THROTTLE = FailureThrottle("login-failures", "KEEL_LOGIN_ATTEMPTS", "KEEL_LOGIN_WINDOW_SECONDS")


class InvalidCredentials(KeelError):
    status = 401
    code = "invalid_credentials"


def client_ip(request):
    # REMOTE_ADDR only: a forwarded-for header is chosen by the client and would let it dodge the throttle.
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def normalize_email(email):
    return (email or "").strip().lower()


def _email_subject(email):
    return f"email:{hashlib.sha256(email.encode()).hexdigest()}"


def ensure_not_throttled(email, ip):
    LOGIN_THROTTLE.ensure_allowed(_email_subject(email), f"ip:{ip}")


def count_failure(email, ip):
    LOGIN_THROTTLE.count_failure(_email_subject(email), f"ip:{ip}")


def forget_failures(email):
    # Only the e-mail's count: a success must not reset the address's count, or one valid account would let its
    # owner keep guessing other people's passwords.
    LOGIN_THROTTLE.forget(_email_subject(email))


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
