"""The revoke hook cannot be aimed inward (keel/outbound.py) and cannot hold a disconnect past its deadline."""

import logging
import socket
import time
import urllib.parse

import pytest

from keel.audit.models import AuditEvent
from keel.integrations.actions import disconnect_all_integrations, do_connect_integration, do_disconnect_integration
from keel.integrations.models import IntegrationConnection

SECRET = "xoxb-very-secret-access-token-42"


@pytest.mark.parametrize(
    "url",
    [
        "https://localhost/revoke",  # a host name that resolves to loopback
        "https://127.0.0.1:5432/revoke",
        "https://10.1.2.3/revoke",
        "https://172.16.0.1/revoke",
        "https://192.168.1.1/revoke",
        "https://169.254.169.254/latest/meta-data/",  # cloud metadata (link-local)
        "https://100.64.0.1/revoke",  # carrier-grade NAT
        "https://0.0.0.0/revoke",
        "https://224.0.0.1/revoke",
        "https://240.0.0.1/revoke",
        "https://[::1]/revoke",
        "https://[::]/revoke",
        "https://[fe80::1]/revoke",
        "https://[fc00::1]/revoke",
        "https://[ff02::1]/revoke",
        "https://[::ffff:127.0.0.1]/revoke",  # IPv4-mapped loopback
        "https://[::ffff:10.0.0.1]/revoke",
        "https://[64:ff9b::a00:1]/revoke",  # NAT64 of 10.0.0.1
        "https://[2002:a00:1::]/revoke",  # 6to4 of 10.0.0.1
    ],
)
def test_a_non_public_revoke_url_is_refused_when_saved(api, url):
    response = api.post("integrations", {"provider": "P", "access_token": SECRET, "revoke_url": url})
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_revoke_url" and error["field"] == "revoke_url"
    assert error["message"].startswith("revoke_url: enter an https:// address on the public internet")
    assert not IntegrationConnection.objects.exists()


def test_the_page_refuses_a_private_revoke_url_too(admin_client):
    response = admin_client.post(
        "/integrations/", {"provider": "Inside", "access_token": SECRET, "revoke_url": "https://192.168.0.10/x"}
    )
    assert "revoke_url: enter an https:// address on the public internet" in response.content.decode()
    assert not IntegrationConnection.objects.exists()


def test_an_allowed_host_may_be_loopback_and_plain_http(api, settings, provider):
    settings.KEEL_OUTBOUND_ALLOWLIST = []
    refused = api.post("integrations", {"provider": "P", "access_token": SECRET, "revoke_url": provider.url})
    assert refused.status_code == 422
    settings.KEEL_OUTBOUND_ALLOWLIST = [provider.netloc]
    allowed = api.post("integrations", {"provider": "P", "access_token": SECRET, "revoke_url": provider.url})
    assert allowed.status_code == 201, allowed.content
    settings.KEEL_OUTBOUND_ALLOWLIST = ["127.0.0.1:1"]  # another port of the same host is not allowed
    refused = api.post("integrations", {"provider": "P", "access_token": SECRET, "revoke_url": provider.url})
    assert refused.status_code == 422


def test_the_address_is_checked_again_when_called(company, settings, provider, caplog):
    # Saved while the operator allowed the host; the allowance is gone by the time of the disconnect.
    connection = do_connect_integration(company, company.admin, "Inside", SECRET, provider.url)
    settings.KEEL_OUTBOUND_ALLOWLIST = []
    with caplog.at_level(logging.WARNING, logger="keel.integrations"):
        assert do_disconnect_integration(connection, company.admin) is False
    assert provider.requests == []  # nothing was sent
    assert "revoke URL refused, not called" in caplog.text and SECRET not in caplog.text
    event = AuditEvent.objects.get(action="integration.disconnected")
    # The tenant learns only "not confirmed", exactly as for a provider that is down: no reason, no oracle.
    assert event.metadata["revoked_at_provider"] is False
    assert set(event.metadata) == {"provider", "revoke_url", "revoked_at_provider"}


class Resolver:
    """Stands in for DNS (the test machine has none): answers host names from a table, counting the lookups."""

    def __init__(self, monkeypatch, answers):
        self.answers = answers
        self.lookups = []
        real = socket.getaddrinfo

        def getaddrinfo(host, port, *args, **kwargs):
            if host not in self.answers:
                return real(host, port, *args, **kwargs)
            self.lookups.append(host)
            address = self.answers[host] if isinstance(self.answers[host], str) else self.answers[host].pop(0)
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            return [(family, socket.SOCK_STREAM, 6, "", (address, port))]

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_a_host_name_that_resolves_to_a_private_address_by_call_time_is_refused(company, monkeypatch, provider):
    # DNS rebinding: public when saved, the test's loopback listener when called.
    dns = Resolver(monkeypatch, {"rebind.test": ["93.184.216.34", "127.0.0.1"]})
    url = f"https://rebind.test:{provider.port}/oauth/revoke"
    connection = do_connect_integration(company, company.admin, "Rebind", SECRET, url)
    assert do_disconnect_integration(connection, company.admin) is False
    assert dns.lookups == ["rebind.test", "rebind.test"] and provider.requests == []


def test_the_call_connects_to_the_address_it_checked(company, monkeypatch, settings, provider):
    # One lookup when saved, one per call, and the connection goes to that answer with the host name as Host header;
    # a later, different answer is never asked for.
    dns = Resolver(monkeypatch, {"provider.test": ["127.0.0.1", "127.0.0.1", "10.9.9.9"]})
    settings.KEEL_OUTBOUND_ALLOWLIST = [f"provider.test:{provider.port}"]
    url = f"http://provider.test:{provider.port}/oauth/revoke?client=keel"
    connection = do_connect_integration(company, company.admin, "Pinned", SECRET, url)
    assert do_disconnect_integration(connection, company.admin) is True
    assert dns.lookups == ["provider.test", "provider.test"]
    [request] = provider.requests
    assert request["headers"]["Host"] == f"provider.test:{provider.port}"
    assert request["path"] == "/oauth/revoke?client=keel"
    assert urllib.parse.parse_qs(request["body"])["token"] == [SECRET]


def test_a_dripping_provider_is_cut_at_the_deadline(company, settings, drip_server, caplog):
    settings.KEEL_INTEGRATION_REVOKE_TIMEOUT_SECONDS = 3
    connection = do_connect_integration(company, company.admin, "Drip", SECRET, drip_server.url)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="keel.integrations"):
        assert do_disconnect_integration(connection, company.admin) is False
    elapsed = time.monotonic() - started
    assert drip_server.connections == 1
    assert 2.5 < elapsed < 4.0, elapsed  # one byte every 2 s never trips a per-read timeout: only the deadline
    assert "deadline" in caplog.text
    assert not IntegrationConnection.objects.exists()


def test_a_company_deletion_waits_about_one_deadline_for_all_its_dripping_providers(company, settings, make_provider):
    # disconnect_all_integrations is what the company deletion job calls for its integration step.
    from keel.integrations.tests.servers import DripServer

    settings.KEEL_INTEGRATION_REVOKE_TIMEOUT_SECONDS = 1.5
    servers = [make_provider(DripServer, interval=1.0) for _ in range(3)]
    for n, server in enumerate(servers):
        do_connect_integration(company, company.admin, f"Drip {n}", f"{SECRET}-{n}", server.url)
    started = time.monotonic()
    assert disconnect_all_integrations(company) == 3
    elapsed = time.monotonic() - started
    assert elapsed < 3.0, elapsed  # side by side, not 3 × 1.5 s one after another
    assert [s.connections for s in servers] == [1, 1, 1]
    assert not IntegrationConnection.objects.filter(company=company).exists()
    events = AuditEvent.objects.filter(action="integration.disconnected")
    assert [e.metadata["revoked_at_provider"] for e in events] == [False, False, False]
