"""Re-authentication: the password asked again before a sensitive step (changing the password, deleting the
company's data). One throttle per user for all of them, so that each step is not a separate password oracle."""

from keel.accounts.throttle import FailureThrottle

# Failed re-authentications (password or e-mailed code) per user, counted in the login's window.
REAUTH_THROTTLE = FailureThrottle("reauth-failures", "KEEL_REAUTH_ATTEMPTS", "KEEL_LOGIN_WINDOW_SECONDS")


def subject(user):
    return f"user:{user.pk}"


def password_confirmed(user, password, message="Too many failed attempts.", **extra):
    """Whether ``password`` is the user's. The attempt is reserved before the (slow) check, so concurrent wrong
    guesses are counted exactly; raises ``RateLimited`` (``message`` + "Try again in N minutes.") when the user
    has no attempt left, even for the right password."""
    REAUTH_THROTTLE.reserve(subject(user), message=message, **extra)
    if user.check_password(password or ""):
        REAUTH_THROTTLE.give_back(subject(user))
        return True
    return False


def count_failure(user):
    """A failed check of something other than the password (the e-mailed code)."""
    REAUTH_THROTTLE.count_failure(subject(user))


def wait_seconds(user):
    return REAUTH_THROTTLE.wait_seconds(subject(user))


def forget(user):
    REAUTH_THROTTLE.forget(subject(user))
