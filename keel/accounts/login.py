"""Checking an e-mail address and password, for the login form and the API alike.

Two throttles guard it (keel.accounts.throttle), both counted in the database and reserved before the password is
checked, so that concurrent guesses are counted exactly:

* per client address, at most KEEL_LOGIN_ATTEMPTS failures inside KEEL_LOGIN_WINDOW_SECONDS;
* per account *and* client address, KEEL_LOGIN_ATTEMPTS free failures, then one attempt per wait that doubles from
  KEEL_LOGIN_WINDOW_SECONDS up to KEEL_LOGIN_BACKOFF_MAX_SECONDS. Not per account alone: then anyone anywhere could
  keep a user locked out by typing wrong passwords for their address.

While either refuses, even the right password is refused (otherwise guessing would simply go on).
"""

import hashlib

from keel.accounts.middleware import COMPANY_DELETING_MESSAGE
from keel.accounts.models import User
from keel.accounts.throttle import BackoffThrottle, FailureThrottle, client_address
from keel.audit.actions import record
from keel.errors import Forbidden, KeelError

INCORRECT_CREDENTIALS_MESSAGE = "Incorrect e-mail or password."
ADDRESS_THROTTLE = FailureThrottle("login-address", "KEEL_LOGIN_ATTEMPTS", "KEEL_LOGIN_WINDOW_SECONDS")
ACCOUNT_THROTTLE = BackoffThrottle("login-account-address", "KEEL_LOGIN_ATTEMPTS", "KEEL_LOGIN_WINDOW_SECONDS")

# The name views and API use for the client's address.
client_ip = client_address


class InvalidCredentials(KeelError):
    status = 401
    code = "invalid_credentials"


def normalize_email(email):
    return (email or "").strip().lower()


def _account_subject(email, ip):
    return f"email:{hashlib.sha256(email.encode()).hexdigest()}:ip:{ip}"


def check_credentials(email, password, ip):
    """The user these credentials belong to, or a KeelError saying why not (401, 403 or 429)."""
    email = normalize_email(email)
    address, account = f"ip:{ip}", _account_subject(email, ip)
    ADDRESS_THROTTLE.reserve(address)
    try:
        ACCOUNT_THROTTLE.reserve(account)
    except KeelError:
        ADDRESS_THROTTLE.give_back(address)
        raise
    user = User.objects.select_related("company", "role").filter(email=email).first()
    if user is None:
        User().set_password(password)  # same work as a real check, so timing does not reveal which e-mails exist
    if user is None or not password or not user.check_password(password):
        if user is not None and user.company.is_active:
            record(user.company, None, "user.login_failed", user, email=email, ip=ip)
        raise InvalidCredentials(INCORRECT_CREDENTIALS_MESSAGE)
    # The right password: the address keeps its earlier failures (or one valid account would let its owner go on
    # guessing other people's passwords), the account and address start again.
    ADDRESS_THROTTLE.give_back(address)
    ACCOUNT_THROTTLE.forget(account)
    ADDRESS_THROTTLE.discard_expired()
    if not user.company.is_active:
        raise Forbidden(COMPANY_DELETING_MESSAGE, code="company_deleting")
    if not user.is_active:
        raise Forbidden("This account has been deactivated. Ask your Company Administrator.", code="user_deactivated")
    return user
