"""Who is on the other end of a request, when Keel may sit behind reverse proxies. See docs/security.md, "Proxies".

``X-Forwarded-For`` and ``X-Forwarded-Proto`` are written by whoever sends the request, so Keel believes them only
when the request comes from a proxy the operator named in ``KEEL_TRUSTED_PROXIES`` (comma-separated addresses or
CIDRs). Anything that counts per address (login throttles) must use ``client_address(request)``, never
``REMOTE_ADDR`` or the header directly.
"""

import ipaddress

from django.conf import settings


def parse_networks(value):
    """``"10.0.0.0/8, 127.0.0.1"`` → networks. ValueError names an entry that is not an address or CIDR."""
    entries = value.split(",") if isinstance(value, str) else value
    networks = []
    for entry in entries:
        entry = str(entry).strip()
        if entry:
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                raise ValueError(f"KEEL_TRUSTED_PROXIES: {entry!r} is not an IP address or CIDR") from None
    return networks


def trusted_networks():
    return parse_networks(getattr(settings, "KEEL_TRUSTED_PROXIES", ()))


def is_trusted_proxy(address, networks=None):
    networks = trusted_networks() if networks is None else networks
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return False
    return any(ip in network for network in networks if network.version == ip.version)


def client_address(request):
    """``REMOTE_ADDR``, unless that is a trusted proxy: then the right-most ``X-Forwarded-For`` entry that is not a
    trusted proxy (each proxy appends the address it saw, so the entries left of it may be forged)."""
    remote = request.META.get("REMOTE_ADDR", "")
    networks = trusted_networks()
    if not networks or not is_trusted_proxy(remote, networks):
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    for address in reversed(forwarded):
        if not is_trusted_proxy(address, networks):
            return address
    return forwarded[0] if forwarded else remote


def forwarded_scheme(request):
    """``http`` or ``https`` as a trusted proxy reports it in ``X-Forwarded-Proto``; None when not to be believed."""
    if not is_trusted_proxy(request.META.get("REMOTE_ADDR", "")):
        return None
    # A chain of proxies may list one value each; the first is what the client used.
    proto = request.META.get("HTTP_X_FORWARDED_PROTO", "").split(",")[0].strip().lower()
    return proto if proto in ("http", "https") else None
