"""Keel's one settings module. Every knob is an environment variable, documented in the README."""

import os
from pathlib import Path

import dj_database_url

from keel import env

BASE_DIR = Path(__file__).resolve().parent.parent


# Every variable goes through keel/env.py's typed parser: a bad value stops start-up with a sentence naming it.
env_bool, env_int, env_float, env_list = env.boolean, env.integer, env.number, env.items


# Files at rest: everything Keel creates (the SQLite database, e-mails written as files, the secret key, the cache)
# is readable by Keel's own user only; the data folder is closed to everyone else (docs/security.md).
os.umask(0o077)
DATA_DIR = Path(os.environ.get("KEEL_DATA_DIR", BASE_DIR / "var")).resolve()
DATA_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
if DATA_DIR.stat().st_uid == os.getuid():
    DATA_DIR.chmod(0o700)  # also a folder an older Keel created world-readable


def persistent_secret_key(path):
    """A random key made once per data folder and kept there, so no Keel runs with a key anyone can read in its
    source (a known key would let anyone forge signed values). O_EXCL: of two processes
    starting at once, one writes and both read the same key."""
    import secrets

    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as key_file:
        key_file.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = env.raw("KEEL_SECRET_KEY") or persistent_secret_key(DATA_DIR / "secret_key")
# Integration credentials are encrypted with keys derived from these values, newest first: the first encrypts, all
# decrypt, and `keel rotate-encryption-key` re-encrypts everything with the first (keel/integrations/crypto.py,
# docs/operations.md). Without KEEL_ENCRYPTION_KEYS the one key is KEEL_ENCRYPTION_KEY, else KEEL_SECRET_KEY, as
# before, so that credentials stored earlier stay readable.
ENCRYPTION_KEYS = env_list("KEEL_ENCRYPTION_KEYS") or [env.raw("KEEL_ENCRYPTION_KEY") or SECRET_KEY]
ENCRYPTION_KEY = ENCRYPTION_KEYS[0]
DEBUG = env_bool("KEEL_DEBUG", False)
ALLOWED_HOSTS = env_list("KEEL_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
# `keel serve --addr` passes the address it listens on to its children as KEEL_SITE_URL unless it is set.
SITE_URL = env.url("KEEL_SITE_URL", "http://127.0.0.1:8000")
VERSION = "1.0.0"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.messages",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    # For the Swagger UI files django-ninja bundles: the API docs page loads nothing from another origin.
    "ninja",
    "django_tasks_db",
    "keel.accounts",
    "keel.audit",
    "keel.contacts",
    "keel.contacts.imports",
    "keel.marketing",
    "keel.integrations",
    "keel.jobs",
    "keel.datacontrol",
    "keel.mail",
    "bench",  # the benchmark suite and its `keel bench` command (docs/benchmarks.md)
]

MIDDLEWARE = [
    # First, so that every log record of the request carries its id, and every answer is counted (docs/operations.md).
    "keel.observability.requestid.RequestIdMiddleware",
    "keel.observability.metrics.MetricsMiddleware",
    "keel.security.TrustedProxyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    # Outside JsonApiErrors, so that the JSON answers it writes are marked too (it reads request.user on the way out).
    "keel.security.NoStoreMiddleware",
    "keel.api.JsonApiErrors",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "keel.accounts.middleware.CompanyMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "keel.urls"
WSGI_APPLICATION = "keel.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "keel" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "keel.accounts.context_processors.navigation",
            ],
        },
    },
]


# SQLite in WAL mode by default (zero set-up); PostgreSQL through DATABASE_URL.
def parse_database_url(name, default):
    value = env.string(name, default)
    try:
        return dj_database_url.parse(value, conn_max_age=0)
    except ValueError as exc:
        raise env.SettingError(
            f"{name}={value!r} is not a database URL Keel can use ({exc}); use sqlite:///PATH or "
            "postgres://USER@HOST:5432/NAME."
        ) from None


DATABASES = {"default": parse_database_url("DATABASE_URL", f"sqlite:///{DATA_DIR / 'keel.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
    }
    # Tests share the database with a real worker process, so it must be a file, not :memory:.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}
else:
    DATABASES["default"]["TEST"] = {"NAME": os.environ.get("KEEL_TEST_DB_NAME", "test_keel")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/contacts/"

# Server-side sessions in the database, so that logout, deactivation, a password change and company deletion end
# them for real (a copied cookie dies with its row); keel.accounts.sessions keeps each one's UserSession row.
SESSION_ENGINE = "keel.accounts.sessions"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = 14 * 24 * 3600
SESSION_COOKIE_SECURE = env_bool("KEEL_SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

# HTTPS and proxies (docs/security.md). Behind HTTPS (KEEL_SECURE_COOKIES on) plain HTTP is redirected and browsers
# are told to use HTTPS only (HSTS). X-Forwarded-Proto and X-Forwarded-For are believed only from the proxies in
# KEEL_TRUSTED_PROXIES (keel/clientaddr.py, keel/security.py); SECURE_PROXY_SSL_HEADER stays unset because Django
# would believe that header from anyone.
SECURE_SSL_REDIRECT = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env_int("KEEL_HSTS_SECONDS", 365 * 24 * 3600) if SESSION_COOKIE_SECURE else 0
KEEL_TRUSTED_PROXIES = env_list("KEEL_TRUSTED_PROXIES")
CSRF_TRUSTED_ORIGINS = env_list("KEEL_CSRF_TRUSTED_ORIGINS")
# No inline script anywhere: every script is a file under /static/ (keel/static/keel/keel.js, django-ninja's Swagger
# UI), so injected markup cannot run. Inline style attributes are still used by a few templates.
SECURE_CSP = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'", "'unsafe-inline'"],
    "img-src": ["'self'", "data:"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}

PASSWORD_HASHERS = (
    ["django.contrib.auth.hashers.MD5PasswordHasher"]
    if env_bool("KEEL_FAST_PASSWORD_HASHER")
    else ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": str(DATA_DIR / "cache"),
    }
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# Stored files (attachments, export archives) and their folders: for Keel's user only, whatever the umask.
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700
FILES_DIR = os.environ.get("KEEL_FILES_DIR", str(DATA_DIR / "files"))
STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
# keel/static is the project's own folder, not an app's: the finders (and WhiteNoise through them) need it named.
STATICFILES_DIRS = [BASE_DIR / "keel" / "static"]
STORAGES = {
    # Stored files (attachments, export archives) live under companies/<company id>/ so that one prefix holds
    # everything of a company. S3-compatible storage is configured by swapping this backend (django-storages).
    "default": {
        "BACKEND": os.environ.get("KEEL_STORAGE_BACKEND", "django.core.files.storage.FileSystemStorage"),
        "OPTIONS": {"location": os.environ.get("KEEL_FILES_DIR", str(DATA_DIR / "files"))}
        if "KEEL_STORAGE_BACKEND" not in os.environ
        else {},
    },
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# --- S3-compatible object storage (docs/deployment.md, "Stored files") ---
# A separate block on purpose: KEEL_STORAGE_BACKEND=s3 puts every stored file (attachments, import uploads and error
# reports, export archives) in one bucket through django-storages. Credentials come from the standard AWS variables
# (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN) or the machine's role, as boto3 finds them.
if os.environ.get("KEEL_STORAGE_BACKEND", "").strip().lower() == "s3":
    from keel.storage import s3_storage_setting

    STORAGES["default"] = s3_storage_setting(os.environ)

WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

# --- E-mail (docs/operations.md, "E-mail") ----------------------------------------------------------------------
# Written as files to var/mail by default; real SMTP when KEEL_EMAIL_HOST is set. TLS is off unless asked for
# (KEEL_EMAIL_USE_SSL / KEEL_EMAIL_USE_TLS) or implied by the port (465 SSL, 587 STARTTLS); every SMTP connection
# gives up after KEEL_EMAIL_TIMEOUT seconds. E-mails are sent by a background task (keel/mail), retried with
# back-off: KEEL_EMAIL_RETRY_SECONDS after the first failure, doubling, up to KEEL_EMAIL_MAX_ATTEMPTS attempts.
from keel.mail.config import email_timeout, smtp_options  # noqa: E402 (pure functions of the environment)

_smtp = smtp_options(os.environ)
MAILERS = {
    "default": {"BACKEND": "django.core.mail.backends.smtp.EmailBackend", "OPTIONS": _smtp}
    if _smtp
    else {
        "BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "OPTIONS": {"file_path": str(DATA_DIR / "mail")},
    }
}
KEEL_EMAIL_TIMEOUT = email_timeout(os.environ)
KEEL_EMAIL_MAX_ATTEMPTS = env_int("KEEL_EMAIL_MAX_ATTEMPTS", 5)
KEEL_EMAIL_RETRY_SECONDS = env.number("KEEL_EMAIL_RETRY_SECONDS", 30, minimum=0)
# --- end of E-mail ---------------------------------------------------------------------------------------------
DEFAULT_FROM_EMAIL = os.environ.get("KEEL_FROM_EMAIL", "Keel <no-reply@keel.localhost>")

# Background jobs: Django's tasks API, the database is the queue.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
KEEL_JOB_HEARTBEAT_SECONDS = env_float("KEEL_JOB_HEARTBEAT_SECONDS", 2, minimum=0.01)
KEEL_JOB_LEASE_SECONDS = env_float("KEEL_JOB_LEASE_SECONDS", 60, minimum=1)
KEEL_JOB_MAX_ATTEMPTS = env_int("KEEL_JOB_MAX_ATTEMPTS", 3, minimum=1)
KEEL_BATCH_SIZE = env_int("KEEL_BATCH_SIZE", 2000, minimum=1)
# The most rows one batch of a CRM or company deletion deletes; below it each batch is sized to take about 40 ms
# (keel/datacontrol/eraser.py), so cheap rows go tens of thousands at a time and costly ones a few hundred.
KEEL_DELETION_BATCH_ROWS = env_int("KEEL_DELETION_BATCH_ROWS", 50_000, minimum=1)

# Data controls.
KEEL_IMPORT_MAX_BYTES = env_int("KEEL_IMPORT_MAX_BYTES", 200 * 1024 * 1024)
# A bulk deletion of up to this many contacts runs in the request; a larger one is a background job (docs/crm.md).
KEEL_BULK_DELETE_INLINE_LIMIT = env_int("KEEL_BULK_DELETE_INLINE_LIMIT", 2000, minimum=1)
KEEL_EXPORT_TTL_HOURS = env_int("KEEL_EXPORT_TTL_HOURS", 7 * 24)
KEEL_EXPORTS_PER_DAY = env_int("KEEL_EXPORTS_PER_DAY", 5)
KEEL_DELETION_EMAIL_CODE = env_bool("KEEL_DELETION_EMAIL_CODE", False)
KEEL_LOGIN_ATTEMPTS = env_int("KEEL_LOGIN_ATTEMPTS", 5)
KEEL_LOGIN_WINDOW_SECONDS = env_int("KEEL_LOGIN_WINDOW_SECONDS", 300)
KEEL_REAUTH_ATTEMPTS = env_int("KEEL_REAUTH_ATTEMPTS", 5)
# Per account and client address, the wait after the free attempts doubles up to this (docs/accounts.md).
KEEL_LOGIN_BACKOFF_MAX_SECONDS = env_int("KEEL_LOGIN_BACKOFF_MAX_SECONDS", 3600)
KEEL_INTEGRATION_REVOKE_TIMEOUT_SECONDS = env_float("KEEL_INTEGRATION_REVOKE_TIMEOUT_SECONDS", 5, minimum=0.1)
# Hosts ("host" or "host:port") a tenant-aimed outbound call may reach although they are not public (keel/outbound.py).
KEEL_OUTBOUND_ALLOWLIST = env_list("KEEL_OUTBOUND_ALLOWLIST")

# Scheduled backups (docs/backups.md). Backup endpoints ("host" or "host:port") allowed although not public: a
# self-hosted S3 server on a private network. An upload is sent in parts of this size (S3's minimum is 5 MiB), and
# memory holds one part; a passphrase-encrypted archive is encrypted in memory, hence its cap.
KEEL_BACKUP_ENDPOINT_ALLOWLIST = env_list("KEEL_BACKUP_ENDPOINT_ALLOWLIST")
KEEL_BACKUP_UPLOAD_PART_BYTES = env_int("KEEL_BACKUP_UPLOAD_PART_BYTES", 16 * 1024 * 1024, minimum=5 * 1024 * 1024)
KEEL_BACKUP_UPLOAD_DEADLINE_SECONDS = env_float("KEEL_BACKUP_UPLOAD_DEADLINE_SECONDS", 6 * 3600, minimum=1)
KEEL_BACKUP_TEST_DEADLINE_SECONDS = env_float("KEEL_BACKUP_TEST_DEADLINE_SECONDS", 20, minimum=1)
KEEL_PASSPHRASE_ARCHIVE_MAX_BYTES = env_int("KEEL_PASSPHRASE_ARCHIVE_MAX_BYTES", 256 * 1024 * 1024, minimum=1)

# --- Logging and monitoring (docs/operations.md, "Monitoring") -------------------------------------------------
# Every unhandled exception is logged with its traceback (django.request, at ERROR, also when DEBUG is off) and the
# request's id (X-Request-ID, keel.observability.requestid), and no log line carries a deletion-status or
# set-password token (keel.security.MaskSecretPaths). KEEL_LOG_FORMAT=json writes one JSON object per line.
LOG_LEVEL = env.choice("KEEL_LOG_LEVEL", "INFO", ("debug", "info", "warning", "error", "critical")).upper()
KEEL_LOG_FORMAT = env.choice("KEEL_LOG_FORMAT", "plain", ("plain", "json"))
# /metrics answers 404 while KEEL_METRICS_TOKEN is unset, 401 without "Authorization: Bearer <token>".
KEEL_METRICS_TOKEN = os.environ.get("KEEL_METRICS_TOKEN", "")
# /readyz turns unready when the oldest queued job has waited longer than this (0: the age is only reported).
KEEL_READY_MAX_QUEUE_AGE_SECONDS = env.number("KEEL_READY_MAX_QUEUE_AGE_SECONDS", 0, minimum=0)
_log_filters = ["request_id", "mask_secret_paths"]
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "mask_secret_paths": {"()": "keel.security.MaskSecretPaths"},
        "request_id": {"()": "keel.observability.requestid.RequestIdFilter"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "access": {"format": "[%(asctime)s] [%(request_id)s] %(message)s"},
        "json": {"()": "keel.observability.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if KEEL_LOG_FORMAT == "json" else "plain",
            "filters": _log_filters,
        },
        "access": {
            "class": "logging.StreamHandler",
            "formatter": "json" if KEEL_LOG_FORMAT == "json" else "access",
            "filters": _log_filters,
        },
    },
    "loggers": {
        "keel": {"handlers": ["console"], "level": LOG_LEVEL},
        "django": {"handlers": ["console"], "level": "INFO"},
        "django.request": {"filters": ["mask_secret_paths"], "level": "INFO"},
        # The development server's access log; its own handler, not repeated by the "django" logger's.
        "django.server": {
            "handlers": ["access"],
            "filters": ["mask_secret_paths"],
            "level": "INFO",
            "propagate": False,
        },
        "django_tasks_db": {"handlers": ["console"], "level": "WARNING"},
    },
}
# --- end of Logging and monitoring -------------------------------------------------------------------------------
