"""An S3 client for an endpoint a tenant chose (a backup destination), held to the rules of ``keel.outbound``.

boto3 resolves and connects by itself, so the rules are applied around it:

- before the client is made, the endpoint's host is resolved once and every address it resolves to must be public
  (``keel.outbound.checked_addresses``; https only), unless the operator allows it in
  ``KEEL_BACKUP_ENDPOINT_ALLOWLIST``;
- every connection the client opens goes to one of those checked addresses, never to a fresh DNS answer (the
  connection class below replaces urllib3's name lookup), while TLS still verifies the certificate against the
  endpoint's host name: a DNS answer that changes after the check (DNS rebinding) cannot redirect the upload;
- the client only talks to that host (a redirect or a virtual-hosted bucket name elsewhere has no checked address
  and fails to connect);
- no request starts after the total deadline, and no single connect or read waits longer than a short deadline.
"""

import boto3
from botocore.awsrequest import AWSHTTPConnection, AWSHTTPConnectionPool, AWSHTTPSConnection, AWSHTTPSConnectionPool
from botocore.config import Config
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util import connection as urllib3_connection

from keel.outbound import Deadline, OutboundFailed, checked_addresses

ALLOWLIST_SETTING = "KEEL_BACKUP_ENDPOINT_ALLOWLIST"
CONNECT_TIMEOUT_SECONDS = 10
READ_TIMEOUT_SECONDS = 60


class _PinnedConnection:
    """Connects to the addresses checked for its host instead of looking the host name up again."""

    pinned: dict[str, list[str]] = {}

    def _new_conn(self):
        addresses = self.pinned.get(self.host.lower())
        if not addresses:
            raise NewConnectionError(self, f"{self.host} is not the checked endpoint; Keel does not connect to it")
        problem = None
        for address in addresses:
            try:
                return urllib3_connection.create_connection(
                    (address, self.port),
                    self.timeout,
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                )
            except TimeoutError as exc:
                raise ConnectTimeoutError(self, f"connecting to {self.host} timed out") from exc
            except OSError as exc:
                problem = exc
        raise NewConnectionError(self, f"could not connect to {self.host}: {problem}")


def _pool_classes(pinned):
    """Connection pool classes whose connections are pinned to ``pinned`` (host → addresses)."""
    http_connection = type("PinnedHTTPConnection", (_PinnedConnection, AWSHTTPConnection), {"pinned": pinned})
    https_connection = type("PinnedHTTPSConnection", (_PinnedConnection, AWSHTTPSConnection), {"pinned": pinned})
    return {
        "http": type("PinnedHTTPPool", (AWSHTTPConnectionPool,), {"ConnectionCls": http_connection}),
        "https": type("PinnedHTTPSPool", (AWSHTTPSConnectionPool,), {"ConnectionCls": https_connection}),
    }


def guarded_s3_client(endpoint_url, *, region, access_key_id, secret_access_key, deadline_seconds):
    """A boto3 S3 client for ``endpoint_url`` that connects only to its checked addresses, within one deadline.

    Raises ``OutboundRefused`` when the endpoint is not one Keel may call, ``OutboundFailed`` when it cannot be
    resolved in time. Requests made after the deadline raise ``OutboundFailed``.
    """
    deadline = Deadline(deadline_seconds)
    target, addresses = checked_addresses(endpoint_url, deadline, ALLOWLIST_SETTING)
    client = boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region or "us-east-1",
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
        config=Config(
            # No single wait outlives a short deadline (Test connection); a long one is checked at every request.
            connect_timeout=min(CONNECT_TIMEOUT_SECONDS, deadline_seconds),
            read_timeout=min(READ_TIMEOUT_SECONDS, deadline_seconds),
            retries={"max_attempts": 2, "mode": "standard"},
            s3={"addressing_style": "path"},  # the bucket in the path: one host, the checked one
            proxies={},
        ),
    )
    pin(client, {target.host: [address for _, address in addresses]})
    client.meta.events.register("before-send.s3", _deadline_guard(deadline))
    return client


def pin(client, pinned):
    """Make every connection of ``client`` go to the pinned addresses of its host."""
    session = client._endpoint.http_session  # botocore has no public hook for the connection class
    classes = _pool_classes({host.lower(): list(addresses) for host, addresses in pinned.items()})
    session._pool_classes_by_scheme = classes
    session._manager.pool_classes_by_scheme = classes


def _deadline_guard(deadline):
    def check(**_):
        deadline.remaining()  # raises OutboundFailed once the deadline has passed: no new request is sent

    return check


__all__ = ["ALLOWLIST_SETTING", "OutboundFailed", "guarded_s3_client", "pin"]
