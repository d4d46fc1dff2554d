"""The mail server settings, read from the environment by keel/settings.py (docs/operations.md, "E-mail").

Pure functions of the environment, so that the rules (TLS off unless asked or implied by the port, a timeout on
every connection) are tested without restarting Django."""

SSL_PORT = 465  # SMTP over TLS from the first byte ("SMTPS")
STARTTLS_PORT = 587  # the submission port: plain connection upgraded with STARTTLS
DEFAULT_PORT = 25
DEFAULT_TIMEOUT_SECONDS = 10.0


class MailSettingError(ValueError):
    pass


def _flag(environ, name, default):
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise MailSettingError(f"{name}={raw!r} is not a yes/no value; use true or false.")


def _number(environ, name, default, kind):
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise MailSettingError(f"{name}={raw!r} is not a number.") from None
    if value <= 0:
        raise MailSettingError(f"{name}={raw!r} must be greater than 0.")
    return value


def smtp_options(environ):
    """The SMTP mailer's options, or None without KEEL_EMAIL_HOST (then e-mails are written as files).

    TLS is off unless asked for: KEEL_EMAIL_USE_SSL / KEEL_EMAIL_USE_TLS win when set; otherwise port 465 means
    SSL and port 587 means STARTTLS, any other port plain SMTP."""
    host = environ.get("KEEL_EMAIL_HOST", "").strip()
    if not host:
        return None
    port = _number(environ, "KEEL_EMAIL_PORT", DEFAULT_PORT, int)
    use_ssl = _flag(environ, "KEEL_EMAIL_USE_SSL", port == SSL_PORT)
    use_tls = _flag(environ, "KEEL_EMAIL_USE_TLS", port == STARTTLS_PORT and not use_ssl)
    if use_ssl and use_tls:
        raise MailSettingError("KEEL_EMAIL_USE_SSL and KEEL_EMAIL_USE_TLS cannot both be true; choose one.")
    return {
        "host": host,
        "port": port,
        "username": environ.get("KEEL_EMAIL_USER", ""),
        "password": environ.get("KEEL_EMAIL_PASSWORD", ""),
        "use_ssl": use_ssl,
        "use_tls": use_tls,
        "timeout": email_timeout(environ),
    }


def email_timeout(environ):
    return _number(environ, "KEEL_EMAIL_TIMEOUT", DEFAULT_TIMEOUT_SECONDS, float)
