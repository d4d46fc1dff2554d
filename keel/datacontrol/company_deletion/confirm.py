"""The confirmation a Company Administrator gives: the typed company name, the re-entered password and, when
``KEEL_DELETION_EMAIL_CODE`` is on, a one-time code e-mailed to them (docs/company-deletion.md, "What happens on
confirmation"). Failed password and code attempts are rate limited per user.
"""

import math
import secrets

from django.conf import settings
from django.core.cache import cache
from django.utils.crypto import constant_time_compare, salted_hmac

from keel.accounts import reauth
from keel.accounts.throttle import minutes_text
from keel.datacontrol.company_deletion.emails import send_code
from keel.errors import Forbidden, InvalidInput, RateLimited

CODE_TTL_SECONDS = 15 * 60


def _code_key(user):
    return f"keel:company-deletion:code:{user.pk}"


def _code_digest(user, code):
    return salted_hmac("keel.company_deletion.code", f"{user.pk}:{code}", algorithm="sha256").hexdigest()


def ensure_not_throttled(user):
    wait = reauth.wait_seconds(user)
    if wait:
        raise RateLimited(
            f"Too many failed attempts to confirm the deletion. Try again in {minutes_text(wait)}.",
            retry_after=math.ceil(wait),
        )


def issue_code(user):
    """A new one-time code for ``user``: kept (hashed) for CODE_TTL_SECONDS and e-mailed to them."""
    code = f"{secrets.randbelow(10**6):06d}"
    cache.set(_code_key(user), _code_digest(user, code), CODE_TTL_SECONDS)
    send_code(user.email, code, CODE_TTL_SECONDS // 60)


def check_code(user, code):
    """The e-mailed code, used once. Without one, a code is sent and the request asks for it."""
    code = (code or "").strip()
    if not code:
        issue_code(user)
        raise InvalidInput(
            "We e-mailed you a one-time code. Enter it together with your password to confirm the deletion.",
            code="verification_code_required",
            field="code",
        )
    expected = cache.get(_code_key(user))
    if not expected or not constant_time_compare(expected, _code_digest(user, code)):
        reauth.count_failure(user)
        raise Forbidden(
            "The one-time code is not correct or has expired. Ask for a new code and try again.",
            code="verification_failed",
            field="code",
        )
    cache.delete(_code_key(user))


def check_confirmation(user, company_name, password, code):
    """The typed name, the password and (when configured) the code; each failure names its field."""
    company = user.company
    if (company_name or "").strip() != company.name:
        raise InvalidInput(
            f"The name you typed does not match the company's name. Type it exactly as shown: “{company.name}”.",
            code="confirmation_mismatch",
            field="company_name",
        )
    # The attempt is reserved before the password is checked: concurrent wrong guesses are counted exactly.
    message = "Too many failed attempts to confirm the deletion."
    if not reauth.password_confirmed(user, password, message=message, wait_field="retry_after"):
        raise Forbidden(
            "The password is not correct. Re-enter the password you log in with.",
            code="reauthentication_failed",
            field="password",
        )
    if settings.KEEL_DELETION_EMAIL_CODE:
        check_code(user, code)
    reauth.forget(user)
