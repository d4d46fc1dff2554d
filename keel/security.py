"""Request-wide security: proxies, caching of CRM data, secrets kept out of logs, how long a public link lives.

See docs/security.md. The Content-Security-Policy itself is Django's (``SECURE_CSP`` in keel/settings.py).
"""

import logging
import re
from datetime import timedelta

from django.utils import timezone
from django.utils.cache import add_never_cache_headers

from keel.clientaddr import forwarded_scheme

# A deletion's status page keeps showing its receipt for a year after the deletion ended, then the link is dead.
DELETION_STATUS_LINK_DAYS = 365


class TrustedProxyMiddleware:
    """First in the chain: a request from a trusted proxy (KEEL_TRUSTED_PROXIES) takes its scheme from
    ``X-Forwarded-Proto``, so that HTTPS redirects, secure cookies and CSRF origin checks see what the client used.
    From anyone else the header is ignored."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        scheme = forwarded_scheme(request)
        if scheme:
            request.META["wsgi.url_scheme"] = scheme
        return self.get_response(request)


class NoStoreMiddleware:
    """Answers that carry CRM data (every page of a signed-in user, every API answer) must not be kept by a browser
    or a proxy cache: after logging out on a shared computer, Back or a cache must not show them again."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        carries_crm_data = request.path.startswith("/api/") or (user is not None and user.is_authenticated)
        if carries_crm_data and "no-store" not in response.get("Cache-Control", ""):  # a view's own no-store stays
            add_never_cache_headers(response)
        return response


# Paths that carry a secret token: the token segment is replaced in every log line.
SECRET_PATHS = [
    (re.compile(r"(/deletion-status/)[^/\s?\"']+"), r"\1[token]"),
    (re.compile(r"(/api/v1/deletions/)[^/\s?\"']+"), r"\1[token]"),
    (re.compile(r"(/set-password/)[^/\s?\"']+/[^/\s?\"']+"), r"\1[uid]/[token]"),
]


def mask_secret_paths(text):
    for pattern, replacement in SECRET_PATHS:
        text = pattern.sub(replacement, text)
    return text


class MaskSecretPaths(logging.Filter):
    """A logging filter: the access log (``django.server``) and request warnings (``django.request``) name the path,
    and a deletion-status or set-password path is a live credential. It is masked before any handler sees it."""

    def filter(self, record):
        if isinstance(record.msg, str):
            record.msg = mask_secret_paths(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(mask_secret_paths(a) if isinstance(a, str) else a for a in record.args)
        return True


def status_link_expired(receipt, now=None):
    """Whether a company deletion's public status link has expired: a year after the deletion ended. A deletion
    still running (or failed and being retried) keeps its link."""
    ended = receipt.completed_at
    if ended is None:
        return False
    return (now or timezone.now()) - ended > timedelta(days=DELETION_STATUS_LINK_DAYS)
