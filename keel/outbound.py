"""The one way Keel sends an HTTP request to an address a tenant chose: an integration's revoke URL (``post_form``)
and a backup destination's S3 endpoint (``keel.outbound_s3``, which connects only to addresses checked here). See
docs/security.md, "Outbound calls".

A tenant who can aim a request could otherwise make Keel talk to what only Keel can reach: the database port, the
cloud's metadata service, an admin interface on the private network. So:

- the host is resolved and every address it resolves to must be a public internet address (not loopback, private,
  link-local, multicast, reserved or unspecified; IPv4-mapped, NAT64 and 6to4 IPv6 addresses are judged by the IPv4
  address they carry). This is checked when the URL is saved (``check_url``) and again at every call (``post_form``);
- the call connects to the very address that was checked, sending the URL's host name as the Host header and as the
  TLS server name, so a DNS answer that changes between the check and the connection (DNS rebinding) cannot redirect
  it;
- redirects are never followed: only the status line of the answer is read;
- the whole call (name lookup, connect, TLS, sending, every byte of the status line) has one total deadline;
- plain ``http://`` is refused: what Keel sends (an access token) must not cross the network in clear text.

The operator can allow hosts with ``KEEL_OUTBOUND_ALLOWLIST`` ("host" or "host:port" entries, comma-separated): an
allowed host skips the address rule and may use http:// (an internal provider, a test's listener on 127.0.0.1).
Backup endpoints have their own list, ``KEEL_BACKUP_ENDPOINT_ALLOWLIST`` (a self-hosted S3 server on a private
network): each kind of call names the setting that may widen it.
"""

import ipaddress
import socket
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass

from django.conf import settings

from keel.errors import InvalidInput

DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_STATUS_LINE = 8192
NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Characters a URL path or query may carry as they are; anything else (spaces, controls, non-ASCII) is %-encoded,
# so nothing a tenant types can end the request line or add a header.
PATH_SAFE = "/%:@!$&'()*+,;=-._~?"


class OutboundError(Exception):
    """The call did not give an HTTP status. ``reason`` is for the operator's log, never for the tenant."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


class OutboundRefused(OutboundError):
    """The address is not one Keel may call: nothing was sent."""


class OutboundFailed(OutboundError):
    """The call was attempted and failed: unreachable, too slow, not HTTP."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # lower-case, without brackets for IPv6
    port: int
    path: str  # path and query, %-encoded

    @property
    def host_header(self):
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"


# --- the rules -----------------------------------------------------------------------------------------------------


ALLOWLIST_SETTING = "KEEL_OUTBOUND_ALLOWLIST"


def allowlist(setting=ALLOWLIST_SETTING):
    """The operator's allowed hosts as (host, port or None) pairs."""
    raw = getattr(settings, setting, ())
    entries = raw.split(",") if isinstance(raw, str) else raw
    allowed = set()
    for entry in entries:
        entry = entry.strip().lower()
        if not entry:
            continue
        if entry.startswith("["):  # [::1] or [::1]:8080
            host, _, rest = entry[1:].partition("]")
            port = rest[1:] if rest.startswith(":") else ""
        elif entry.count(":") == 1:
            host, port = entry.split(":")
        else:  # a bare host name or IPv4 or IPv6 address
            host, port = entry, ""
        allowed.add((host, int(port) if port.isdigit() else None))
    return allowed


def is_allowed_host(host, port, setting=ALLOWLIST_SETTING):
    allowed = allowlist(setting)
    return (host, port) in allowed or (host, None) in allowed


def is_public_address(address):
    """True only for an address on the public internet."""
    ip = ipaddress.ip_address(address.split("%")[0])  # drop an IPv6 zone ("fe80::1%eth0")
    if ip.version == 6:
        nat64 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) if ip in NAT64 else None
        embedded = ip.ipv4_mapped or ip.sixtofour or nat64
        if embedded is not None and not is_public_address(str(embedded)):
            return False
    forbidden = (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or (ip.version == 6 and ip.is_site_local)
    )
    return ip.is_global and not forbidden


def parse_url(url):
    """A ``Target`` for an http(s) URL with a host, or ValueError."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname or parts.username or parts.password:
        raise ValueError("not an http(s) URL with a host")
    port = parts.port or DEFAULT_PORTS[scheme]  # .port raises ValueError for a port that is not a number
    path = urllib.parse.quote(parts.path or "/", safe=PATH_SAFE)
    if parts.query:
        path += "?" + urllib.parse.quote(parts.query, safe=PATH_SAFE)
    try:  # an internationalised name is looked up, sent and verified in its ASCII (punycode) form
        host = parts.hostname.rstrip(".").encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise ValueError("not a valid host name") from None
    return Target(scheme, host, port, path)


def resolve(host, port, timeout):
    """The addresses of ``host`` as (family, address) pairs, within ``timeout`` seconds.

    getaddrinfo has no timeout of its own; it runs in a daemon thread that is simply abandoned when it is too slow.
    """
    found = {}

    def lookup():
        try:
            found["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            found["error"] = exc

    thread = threading.Thread(target=lookup, daemon=True, name="keel-outbound-dns")
    thread.start()
    thread.join(max(timeout, 0))
    if "infos" not in found:
        raise OutboundFailed(f"could not resolve {host}: {found.get('error') or 'timed out'}")
    addresses = []
    for family, _, _, _, sockaddr in found["infos"]:
        if (family, sockaddr[0]) not in addresses:
            addresses.append((family, sockaddr[0]))
    return addresses


def refuse_unless_public(target, addresses, setting=ALLOWLIST_SETTING):
    if is_allowed_host(target.host, target.port, setting):
        return
    if target.scheme != "https":
        raise OutboundRefused(f"{target.host}: plain http:// is refused")
    for _, address in addresses:
        if not is_public_address(address):
            raise OutboundRefused(f"{target.host} resolves to a non-public address")


# --- at save time --------------------------------------------------------------------------------------------------


def check_url(url, *, field, code="invalid_url", lookup_timeout=2.0):
    """Raises ``InvalidInput`` naming ``field`` unless ``url`` is one Keel may call. Returns the URL.

    A host name that does not resolve now is accepted: DNS can be down for a moment, and ``post_form`` checks again
    before anything is sent.
    """
    message = (
        f"{field}: enter an https:// address on the public internet. Loopback, private, link-local, multicast and "
        "reserved addresses (and host names that resolve to them) are refused unless the operator allows the host "
        "in KEEL_OUTBOUND_ALLOWLIST."
    )
    try:
        target = parse_url(url)
    except ValueError:
        raise InvalidInput(message, field=field, code=code) from None
    try:
        addresses = resolve(target.host, target.port, lookup_timeout)
    except OutboundFailed:
        addresses = []
    try:
        refuse_unless_public(target, addresses)
    except OutboundRefused:
        raise InvalidInput(message, field=field, code=code) from None
    return url


# --- at call time --------------------------------------------------------------------------------------------------


def checked_addresses(url, deadline, setting=ALLOWLIST_SETTING):
    """``(target, addresses)`` for a call about to be made: the only addresses the call may connect to.

    Raises ``OutboundRefused`` (not a URL Keel may call) or ``OutboundFailed`` (the name does not resolve in time).
    """
    try:
        target = parse_url(url)
    except ValueError:
        raise OutboundRefused("not an http(s) URL with a host") from None
    addresses = resolve(target.host, target.port, deadline.remaining())
    refuse_unless_public(target, addresses, setting)
    return target, addresses


class Deadline:
    def __init__(self, seconds):
        self.seconds = seconds
        self.ends = time.monotonic() + seconds

    def remaining(self):
        left = self.ends - time.monotonic()
        if left <= 0:
            raise OutboundFailed(self.passed_reason())
        return left

    def passed_reason(self):
        return f"no answer within the {self.seconds:g} s deadline"


def post_form(url, fields, *, timeout):
    """POSTs ``fields`` form-encoded to ``url`` and returns the HTTP status of the answer.

    ``timeout`` is a total deadline for the whole call. Raises ``OutboundRefused`` (nothing was sent) or
    ``OutboundFailed``. Redirects are not followed: a 3xx is returned as it is.
    """
    deadline = Deadline(timeout)
    target, addresses = checked_addresses(url, deadline)  # the addresses connected to below are exactly these
    body = urllib.parse.urlencode(fields).encode()
    head = (
        f"POST {target.path} HTTP/1.1\r\n"
        f"Host: {target.host_header}\r\n"
        f"User-Agent: Keel/{settings.VERSION}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Accept: */*\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    sock = connect(target, addresses, deadline)
    try:
        sock.settimeout(deadline.remaining())
        sock.sendall(head + body)
        return read_status(sock, deadline)
    except TimeoutError:  # the last wait, bounded by what was left of the deadline, ran out
        raise OutboundFailed(deadline.passed_reason()) from None
    except OSError as exc:  # includes TLS errors
        raise OutboundFailed(f"{target.host}: {exc}") from None
    finally:
        sock.close()


def connect(target, addresses, deadline):
    """A connected (and, for https, TLS-wrapped) socket to the first of the checked addresses that answers."""
    problem = None
    for family, address in addresses:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(deadline.remaining())
            sock.connect((address, target.port))
            if target.scheme == "https":
                sock.settimeout(deadline.remaining())  # the handshake as a whole is bounded by this timeout
                sock = ssl.create_default_context().wrap_socket(sock, server_hostname=target.host)
            return sock
        except TimeoutError:
            sock.close()
            raise OutboundFailed(deadline.passed_reason()) from None
        except OSError as exc:
            sock.close()
            problem = exc
        except OutboundFailed:  # the deadline passed
            sock.close()
            raise
    raise OutboundFailed(f"{target.host}: could not connect: {problem or 'no address'}")


def read_status(sock, deadline):
    """Reads the status line byte by byte as it comes, each wait bounded by what is left of the deadline."""
    received = b""
    while b"\r\n" not in received:
        sock.settimeout(deadline.remaining())
        chunk = sock.recv(1024)
        if not chunk:
            break
        received += chunk
        if len(received) > MAX_STATUS_LINE:
            break
    line = received.split(b"\r\n", 1)[0].decode("latin-1")
    version, _, rest = line.partition(" ")
    status = rest[:3]
    if not version.startswith("HTTP/1.") or not status.isdigit():
        raise OutboundFailed("the answer was not HTTP")
    return int(status)
