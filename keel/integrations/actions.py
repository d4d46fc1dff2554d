"""Connecting and disconnecting outside providers. Views, API, the demo and company deletion call these.

The access token is encrypted at rest (keel/integrations/crypto.py) and leaves Keel only once: in the revoke
request sent to the provider's own revoke URL when the connection is disconnected. It is never returned by an
endpoint, written to a log or put in the audit log.
"""

import logging
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import transaction

from keel import outbound
from keel.audit.actions import record
from keel.errors import InvalidInput
from keel.integrations import crypto
from keel.integrations.models import IntegrationConnection

logger = logging.getLogger("keel.integrations")

MAX_TOKEN_LENGTH = 4000
# A total deadline for the whole revoke call, short because a disconnect (and a company deletion) waits for it.
REVOKE_TIMEOUT_SECONDS = 5
# How many revoke calls a company deletion makes at once: its integration step waits about one deadline, not one per
# connection.
PARALLEL_REVOKES = 8


def clean_revoke_url(url):
    """An https:// URL on the public internet (or a host the operator allows); empty for none.

    The address rules are keel/outbound.py's, checked again when the URL is called."""
    url = (url or "").strip()
    if not url:
        return ""
    field_max = IntegrationConnection._meta.get_field("revoke_url").max_length
    if len(url) > field_max:
        raise InvalidInput(
            f"revoke_url: the revoke URL can be at most {field_max} characters.",
            field="revoke_url",
            code="invalid_revoke_url",
        )
    return outbound.check_url(url, field="revoke_url", code="invalid_revoke_url")


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


def call_revoke_hook(connection, access_token):
    """POSTs ``token=<access token>`` (as in RFC 7009) to the revoke URL. Returns True when the provider said 2xx.

    The call goes through keel/outbound.py: a non-public address is refused without sending anything, and the whole
    call ends at the deadline (KEEL_INTEGRATION_REVOKE_TIMEOUT_SECONDS). Failures and refusals are logged with the
    connection and the reason, never the token, and are not raised: a provider that is down must not keep a company
    from disconnecting (or from being deleted). What the audit log and the tenant see is only whether the provider
    confirmed (True or False), the same for a refused address as for a provider that did not answer.
    """
    fields = {"token": access_token, "token_type_hint": "access_token"}
    try:
        status = outbound.post_form(connection.revoke_url, fields, timeout=revoke_timeout())
    except outbound.OutboundRefused as exc:
        logger.warning(
            "integration %s (%s): revoke URL refused, not called: %s", connection.pk, connection.provider, exc.reason
        )
        return False
    except outbound.OutboundFailed as exc:
        logger.warning("integration %s (%s): revoke request failed: %s", connection.pk, connection.provider, exc.reason)
        return False
    if not 200 <= status < 300:
        logger.warning(
            "integration %s (%s): revoke request answered HTTP %s", connection.pk, connection.provider, status
        )
        return False
    return True


def revoke_at_provider(connection):
    """None without a revoke URL, else whether the provider confirmed the revocation. No database writes."""
    if not connection.revoke_url:
        return None
    access_token = crypto.decrypt(connection.encrypted_access_token) if connection.encrypted_access_token else None
    if access_token is None:
        logger.warning(
            "integration %s (%s): credential unreadable, revoke not called", connection.pk, connection.provider
        )
        return False
    return call_revoke_hook(connection, access_token)


def do_disconnect_integration(connection, actor):
    """Revoke at the provider (best effort), wipe the stored credential, delete the connection; audited.

    Safe to repeat after a crash at any point: a connection already deleted is simply gone.
    """
    revoked = revoke_at_provider(connection)
    _remove_connection(connection, actor, revoked)
    return revoked


def _remove_connection(connection, actor, revoked):
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


def disconnect_all_integrations(company, actor=None):
    """Disconnects every connection of the company (company deletion calls this). Returns how many there were.

    The revoke calls run side by side (PARALLEL_REVOKES at once), each within its total deadline, so a company with
    many connections to slow providers holds its deletion job for about one deadline, not one per connection. The
    threads only talk to the providers; every database write happens here, in order.
    """
    connections = list(IntegrationConnection.objects.filter(company=company).order_by("id"))
    with ThreadPoolExecutor(max_workers=PARALLEL_REVOKES, thread_name_prefix="keel-revoke") as pool:
        outcomes = list(pool.map(revoke_at_provider, connections))
    for connection, revoked in zip(connections, outcomes, strict=True):
        _remove_connection(connection, actor, revoked)
    return len(connections)
