"""Typed environment variables for keel/settings.py: a bad value stops start-up with a sentence naming the variable
and the values it accepts, instead of a bare traceback or a silent default (``KEEL_DEBUG=ture`` is an error, not
false). An unset or empty variable takes its default.
"""

import os

from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = ("true", "1", "yes", "on")
FALSE_WORDS = ("false", "0", "no", "off")


class SettingError(ImproperlyConfigured):
    """A setting's environment variable holds a value Keel cannot use; the message says which and what it accepts."""


def raw(name):
    """The variable's value, stripped; None when it is unset or empty."""
    value = os.environ.get(name, "").strip()
    return value or None


def string(name, default=""):
    value = raw(name)
    return default if value is None else value


def boolean(name, default=False):
    value = raw(name)
    if value is None:
        return default
    if value.lower() in TRUE_WORDS:
        return True
    if value.lower() in FALSE_WORDS:
        return False
    raise SettingError(f"{name}={value!r} is not a yes-or-no value; use one of: {', '.join(TRUE_WORDS + FALSE_WORDS)}.")


def integer(name, default, minimum=None):
    value = raw(name)
    if value is None:
        return default
    try:
        number = int(value.replace("_", ""))
    except ValueError:
        raise SettingError(f"{name}={value!r} is not a whole number; use digits, e.g. {name}={default}.") from None
    return _at_least(name, number, minimum)


def number(name, default, minimum=None):
    value = raw(name)
    if value is None:
        return default
    try:
        parsed = float(value)
    except ValueError:
        raise SettingError(f"{name}={value!r} is not a number; use e.g. {name}={default}.") from None
    if parsed != parsed or parsed in (float("inf"), float("-inf")):
        raise SettingError(f"{name}={value!r} is not a finite number; use e.g. {name}={default}.")
    return _at_least(name, parsed, minimum)


def choice(name, default, choices):
    value = raw(name)
    if value is None:
        return default
    if value.lower() not in choices:
        raise SettingError(f"{name}={value!r} is not an accepted value; use one of: {', '.join(choices)}.")
    return value.lower()


def items(name, default=""):
    """A comma-separated list; blank entries are dropped."""
    return [entry.strip() for entry in os.environ.get(name, default).split(",") if entry.strip()]


def url(name, default):
    """An absolute http(s) URL without a trailing slash, so that ``SITE_URL + "/path"`` never doubles it."""
    from urllib.parse import urlsplit

    value = string(name, default)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingError(f"{name}={value!r} is not an absolute URL; use e.g. {name}=https://crm.example.com.")
    return value.rstrip("/")


def _at_least(name, value, minimum):
    if minimum is not None and value < minimum:
        raise SettingError(f"{name}={value!r} is too small; use {minimum} or more.")
    return value
