"""keel/outbound.py's rules on their own; the integration tests call it for real (keel/integrations/tests)."""

import pytest

from keel import outbound


@pytest.mark.parametrize(
    "address, public",
    [
        ("93.184.216.34", True),
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("127.0.0.1", False),
        ("127.255.0.9", False),
        ("10.0.0.1", False),
        ("172.31.255.255", False),
        ("192.168.0.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("192.0.2.1", False),  # documentation range
        ("198.18.0.1", False),  # benchmarking range
        ("224.0.0.251", False),
        ("239.255.255.250", False),
        ("255.255.255.255", False),
        ("::1", False),
        ("::", False),
        ("fe80::1%eth0", False),
        ("fc00::1", False),
        ("fec0::1", False),  # site-local
        ("ff02::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:169.254.169.254", False),
        ("64:ff9b::7f00:1", False),  # NAT64 of 127.0.0.1
        ("2002:7f00:1::", False),  # 6to4 of 127.0.0.1
        ("2001:db8::1", False),  # documentation range
    ],
)
def test_only_public_addresses_are_public(address, public):
    assert outbound.is_public_address(address) is public


def test_the_allowlist_takes_hosts_and_host_ports(settings):
    settings.KEEL_OUTBOUND_ALLOWLIST = "Provider.Internal:8443, 127.0.0.1 ,[::1]:9000, ::1, [fd00::5]"
    assert outbound.allowlist() == {
        ("provider.internal", 8443),
        ("127.0.0.1", None),
        ("::1", 9000),
        ("::1", None),
        ("fd00::5", None),
    }
    assert outbound.is_allowed_host("provider.internal", 8443)
    assert not outbound.is_allowed_host("provider.internal", 443)
    assert outbound.is_allowed_host("127.0.0.1", 5432)


@pytest.mark.parametrize(
    "url, host_header, path",
    [
        ("https://Provider.Example/revoke", "provider.example", "/revoke"),
        ("https://provider.example:8443", "provider.example:8443", "/"),
        ("https://bücher.example/r", "xn--bcher-kva.example", "/r"),
        ("http://[2001:db8::1]:8080/a b?x=1\r\nX-Evil: 1", "[2001:db8::1]:8080", "/a%20b?x=1X-Evil:%201"),
    ],
)
def test_a_url_becomes_a_target_that_cannot_smuggle_headers(url, host_header, path):
    target = outbound.parse_url(url)
    assert target.host_header == host_header and target.path == path


@pytest.mark.parametrize("url", ["ftp://x.example/", "https://", "https://user:pw@x.example/", "https://x:port/"])
def test_a_url_that_is_not_http_with_a_host_is_refused(url):
    with pytest.raises(ValueError):
        outbound.parse_url(url)
    with pytest.raises(outbound.OutboundRefused):
        outbound.post_form(url, {}, timeout=1)
