"""Connecting and disconnecting outside providers. Views, API, the demo and company deletion call these.

The access token is encrypted at rest (keel/integrations/crypto.py) and leaves Keel only once: in the revoke
request sent to the provider's own revoke URL when the connection is disconnected. It is never returned by an
endpoint, written to a log or put in the audit log.
"""

import ipaddress
import logging
import urllib.error
import urllib.parse
import urllib.request

from django.conf import settings
from django.db import transaction

from keel.audit.actions import record
from keel.errors import InvalidInput
from keel.integrations import crypto
from keel.integrations.models import IntegrationConnection

logger = logging.getLogger("keel.integrations")

MAX_TOKEN_LENGTH = 4000
# Short, because a disconnect (and a company deletion) waits for it.
REVOKE_TIMEOUT_SECONDS = 5
LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}


def is_loopback(hostname):
    if hostname in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def clean_revoke_url(url):
    """An HTTPS URL, or plain HTTP on this machine (127.0.0.1, ::1, localhost); empty for none."""
    url = (url or "").strip()
    if not url:
        return ""
    field_max = IntegrationConnection._meta.get_field("revoke_url").max_length
    try:
        parts = urllib.parse.urlsplit(url)
        hostname = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        hostname = None
    allowed = hostname and (parts.scheme == "https" or (parts.scheme == "http" and is_loopback(hostname)))
    if not allowed or len(url) > field_max:
        raise InvalidInput(
            "The revoke URL must be an https:// address (plain http:// only for 127.0.0.1 or localhost), "
            f"at most {field_max} characters.",
            field="revoke_url",
            code="invalid_revoke_url",
        )
    return url


def do_connect_integration(company, actor, provider, access_token, revoke_url=""):
    provider = (provider or "").strip()
    if not provider or len(provider) > 60:
        raise InvalidInput("Enter the provider's name (at most 60 characters).", field="provider")
    access_token = (access_token or "").strip()
    if not access_token or len(access_token) > MAX_TOKEN_LENGTH:
        raise InvalidInput(
            f"Enter the access token the provider gave you (at most {MAX_TOKEN_LENGTH} characters).",
            field="access_token",
        )
    revoke_url = clean_revoke_url(revoke_url)
    with transaction.atomic():
        connection = IntegrationConnection.objects.create(
            company=company,
            provider=provider,
            encrypted_access_token=crypto.encrypt(access_token),
            revoke_url=revoke_url,
            connected_by=actor if getattr(actor, "pk", None) else None,
        )
        record(
            company,
            actor,
            "integration.connected",
            connection,
            provider=provider,
            revoke_url=connection.revoke_url_shown,
        )
    return connection


def revoke_timeout():
    return float(getattr(settings, "KEEL_INTEGRATION_REVOKE_TIMEOUT_SECONDS", REVOKE_TIMEOUT_SECONDS))


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A redirect would send the token on to an address nobody validated.
    def redirect_request(self, *args, **kwargs):
        return None


def call_revoke_hook(connection, access_token):
    """POSTs ``token=<access token>`` (as in RFC 7009) to the revoke URL. Returns True when the provider said 2xx.

    Failures are logged with the connection and the reason, never the token, and are not raised: a provider that is
    down must not keep a company from disconnecting (or from being deleted).
    """
    try:
        url = clean_revoke_url(connection.revoke_url)
    except InvalidInput:
        logger.warning("integration %s (%s): revoke URL refused, not called", connection.pk, connection.provider)
        return False
    body = urllib.parse.urlencode({"token": access_token, "token_type_hint": "access_token"}).encode()
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded", "User-Agent": f"Keel/{settings.VERSION}"},
    )
    handlers = [_NoRedirects()]
    if is_loopback(urllib.parse.urlsplit(url).hostname):
        handlers.append(urllib.request.ProxyHandler({}))  # this machine is never reached through a proxy
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(request, timeout=revoke_timeout()) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or type(exc).__name__
        logger.warning("integration %s (%s): revoke request failed: %s", connection.pk, connection.provider, reason)
        return False
    if not 200 <= status < 300:
        logger.warning(
            "integration %s (%s): revoke request answered HTTP %s", connection.pk, connection.provider, status
        )
        return False
    return True


def do_disconnect_integration(connection, actor):
    """Revoke at the provider (best effort), wipe the stored credential, delete the connection; audited.

    Safe to repeat after a crash at any point: a connection already deleted is simply gone.
    """
    revoked = None
    if connection.revoke_url:
        access_token = crypto.decrypt(connection.encrypted_access_token) if connection.encrypted_access_token else None
        if access_token is None:
            logger.warning(
                "integration %s (%s): credential unreadable, revoke not called", connection.pk, connection.provider
            )
            revoked = False
        else:
            revoked = call_revoke_hook(connection, access_token)
    with transaction.atomic():
        # Overwritten before the delete, so the ciphertext is not left behind in the row's last version.
        IntegrationConnection.objects.filter(pk=connection.pk).update(encrypted_access_token="")
        deleted, _ = IntegrationConnection.objects.filter(pk=connection.pk).delete()
        if deleted:
            record(
                connection.company_id,
                actor,
                "integration.disconnected",
                connection,
                provider=connection.provider,
                revoke_url=connection.revoke_url_shown,
                revoked_at_provider=revoked,
            )
    return revoked


def disconnect_all_integrations(company, actor=None):
    """Disconnects every connection of the company (company deletion calls this). Returns how many there were."""
    count = 0
    for connection in IntegrationConnection.objects.filter(company=company).order_by("id"):
        do_disconnect_integration(connection, actor)
        count += 1
    return count
