import logging
import urllib.parse

import pytest
from django.test import Client

from keel.audit.models import AuditEvent
from keel.integrations import crypto
from keel.integrations.actions import (
    disconnect_all_integrations,
    do_connect_integration,
    do_disconnect_integration,
)
from keel.integrations.models import IntegrationConnection
from keel.testing import ApiClient, make_user

SECRET = "xoxb-very-secret-access-token-42"


def logged_in(user):
    client = Client()
    client.force_login(user)
    return client


# --- connecting ---------------------------------------------------------------------------------------------------


def test_connect_on_the_page_encrypts_the_token(admin_client, company, caplog):
    caplog.set_level(logging.DEBUG)
    response = admin_client.post(
        "/integrations/",
        {"provider": "Mailer", "access_token": SECRET, "revoke_url": "https://mailer.example/revoke"},
        follow=True,
    )
    body = response.content.decode()
    assert "Mailer connected." in body and SECRET not in body
    connection = IntegrationConnection.objects.get(company=company)
    assert SECRET not in connection.encrypted_access_token
    assert crypto.decrypt(connection.encrypted_access_token) == SECRET
    assert SECRET not in admin_client.get("/integrations/").content.decode()
    assert SECRET not in caplog.text
    assert connection.connected_by == company.admin


def test_connect_errors_keep_the_form_and_store_nothing(admin_client, company):
    response = admin_client.post(
        "/integrations/", {"provider": "Mailer", "access_token": SECRET, "revoke_url": "http://mailer.example/revoke"}
    )
    body = response.content.decode()
    assert "revoke_url: enter an https:// address on the public internet" in body
    assert 'value="Mailer"' in body and 'value="http://mailer.example/revoke"' in body
    assert SECRET not in body
    response = admin_client.post("/integrations/", {"provider": "", "access_token": SECRET})
    assert "Enter the provider&#x27;s name" in response.content.decode()
    assert not IntegrationConnection.objects.exists()


@pytest.mark.parametrize(
    "url, ok",
    [
        ("https://provider.example/revoke", True),
        ("https://93.184.216.34/revoke", True),
        ("https://[2606:2800:220:1:248:1893:25c8:1946]/revoke", True),
        ("http://127.0.0.1:9999/revoke", False),
        ("http://localhost/revoke", False),
        ("http://[::1]:8080/revoke", False),
        ("http://provider.example/revoke", False),
        ("http://10.0.0.5/revoke", False),
        ("ftp://provider.example/revoke", False),
        ("javascript:alert(1)", False),
        ("https://", False),
        ("https://provider.example:notaport/", False),
        ("https://provider.example/" + "x" * 400, False),
    ],
)
def test_revoke_url_must_be_https_on_a_public_address(api, url, ok):
    response = api.post("integrations", {"provider": "P", "access_token": SECRET, "revoke_url": url})
    if ok:
        assert response.status_code == 201, response.content
    else:
        assert response.status_code == 422
        error = response.json()["error"]
        assert error["code"] in ("invalid_revoke_url", "invalid_input")
        assert "revoke_url" in (error.get("field", "") + error["message"])


def test_api_connect_list_get_never_return_the_token(api, company):
    response = api.post("integrations", {"provider": "Mailer", "access_token": SECRET})
    assert response.status_code == 201
    created = response.json()
    assert set(created) == {"id", "provider", "revoke_url", "connected_by", "created_at"}
    assert created["connected_by"] == company.admin.email
    for answer in (response, api.get("integrations"), api.get(f"integrations/{created['id']}")):
        assert answer.status_code in (200, 201)
        assert SECRET not in answer.content.decode() and "encrypted" not in answer.content.decode()
    assert [c["provider"] for c in api.get("integrations").json()] == ["Mailer"]


def test_api_connect_missing_fields_are_422(api):
    response = api.post("integrations", {"provider": "Mailer"})
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "access_token"
    assert not IntegrationConnection.objects.exists()


# --- disconnecting ------------------------------------------------------------------------------------------------


def test_disconnect_posts_the_token_to_the_revoke_url(admin_client, company, provider, caplog):
    caplog.set_level(logging.DEBUG)
    connection = do_connect_integration(company, company.admin, "Mailer", SECRET, provider.url)
    response = admin_client.post(f"/integrations/{connection.pk}/disconnect/", follow=True)
    assert "Mailer disconnected." in response.content.decode()
    [request] = provider.requests
    assert request["path"] == "/oauth/revoke"
    assert urllib.parse.parse_qs(request["body"]) == {"token": [SECRET], "token_type_hint": ["access_token"]}
    assert not IntegrationConnection.objects.filter(pk=connection.pk).exists()
    event = AuditEvent.objects.get(action="integration.disconnected")
    assert event.metadata["revoked_at_provider"] is True and event.metadata["provider"] == "Mailer"
    assert SECRET not in str(event.metadata) and SECRET not in caplog.text


def test_a_failing_provider_does_not_stop_the_disconnect(company, caplog, make_provider):
    failing = make_provider(status=500)
    connection = do_connect_integration(company, company.admin, "Flaky", SECRET, failing.url)
    with caplog.at_level(logging.WARNING, logger="keel.integrations"):
        assert do_disconnect_integration(connection, company.admin) is False
    assert len(failing.requests) == 1
    assert not IntegrationConnection.objects.filter(pk=connection.pk).exists()
    assert "revoke request answered HTTP 500" in caplog.text and SECRET not in caplog.text
    assert AuditEvent.objects.get(action="integration.disconnected").metadata["revoked_at_provider"] is False


def test_an_unreachable_provider_does_not_stop_the_disconnect(company, caplog, make_provider):
    closed = make_provider()
    url = closed.url
    closed.close()  # nothing listens on this port any more
    connection = do_connect_integration(company, company.admin, "Gone", SECRET, url)
    with caplog.at_level(logging.WARNING, logger="keel.integrations"):
        assert do_disconnect_integration(connection, company.admin) is False
    assert not IntegrationConnection.objects.exists()
    assert "revoke request failed" in caplog.text and SECRET not in caplog.text


def test_a_redirecting_provider_is_not_followed(company, make_provider):
    target = make_provider()
    redirecting = make_provider(status=302, location=target.url)
    connection = do_connect_integration(company, company.admin, "Hop", SECRET, redirecting.url)
    assert do_disconnect_integration(connection, company.admin) is False
    assert len(redirecting.requests) == 1 and target.requests == []


def test_disconnect_without_revoke_url(company):
    connection = do_connect_integration(company, company.admin, "Plain", SECRET)
    assert do_disconnect_integration(connection, company.admin) is None
    assert not IntegrationConnection.objects.exists()


def test_disconnecting_twice_is_harmless(company, provider):
    connection = do_connect_integration(company, company.admin, "Mailer", SECRET, provider.url)
    do_disconnect_integration(connection, company.admin)
    do_disconnect_integration(connection, company.admin)
    assert AuditEvent.objects.filter(action="integration.disconnected").count() == 1


def test_disconnect_all_integrations(company, other_company, provider):
    for name in ("A", "B", "C"):
        do_connect_integration(company, company.admin, name, f"{SECRET}-{name}", provider.url)
    kept = do_connect_integration(other_company, other_company.admin, "Theirs", SECRET)
    assert disconnect_all_integrations(company) == 3
    assert sorted(urllib.parse.parse_qs(r["body"])["token"][0] for r in provider.requests) == [
        f"{SECRET}-A",
        f"{SECRET}-B",
        f"{SECRET}-C",
    ]
    assert list(IntegrationConnection.objects.all()) == [kept]
    assert AuditEvent.objects.filter(company=company, action="integration.disconnected", actor=None).count() == 3


def test_api_disconnect(api, company, provider):
    connection = do_connect_integration(company, company.admin, "Mailer", SECRET, provider.url)
    response = api.delete(f"integrations/{connection.pk}")
    assert response.status_code == 204 and response.content == b""
    assert len(provider.requests) == 1
    assert api.delete(f"integrations/{connection.pk}").status_code == 404


# --- isolation and permissions ------------------------------------------------------------------------------------


def test_another_companys_connection_is_404(admin_client, api, other_company, provider):
    theirs = do_connect_integration(other_company, other_company.admin, "Theirs", SECRET, provider.url)
    assert admin_client.post(f"/integrations/{theirs.pk}/disconnect/").status_code == 404
    assert api.get(f"integrations/{theirs.pk}").status_code == 404
    assert api.delete(f"integrations/{theirs.pk}").status_code == 404
    assert api.get("integrations").json() == []
    assert "Theirs" not in admin_client.get("/integrations/").content.decode()
    assert IntegrationConnection.objects.filter(pk=theirs.pk).exists() and provider.requests == []


@pytest.mark.parametrize("kind", ["manager", "member"])
def test_lower_roles_get_403(company, kind, provider):
    user = make_user(company, kind)
    connection = do_connect_integration(company, company.admin, "Mailer", SECRET, provider.url)
    page, api = logged_in(user), ApiClient(user)
    assert page.get("/integrations/").status_code == 403
    assert page.post("/integrations/", {"provider": "X", "access_token": "y"}).status_code == 403
    assert page.post(f"/integrations/{connection.pk}/disconnect/").status_code == 403
    assert api.get("integrations").status_code == 403
    assert api.get(f"integrations/{connection.pk}").status_code == 403
    assert api.post("integrations", {"provider": "X", "access_token": "y"}).status_code == 403
    response = api.delete(f"integrations/{connection.pk}")
    assert response.status_code == 403 and response.json()["error"]["code"] == "permission_denied"
    assert IntegrationConnection.objects.count() == 1 and provider.requests == []


def test_the_credential_is_marked_secret():
    assert IntegrationConnection.secret_fields == ("encrypted_access_token", "revoke_url")


def test_an_unreadable_credential_is_disconnected_without_calling_the_provider(company, provider, caplog):
    # What happens after KEEL_ENCRYPTION_KEY was changed: the old ciphertext can no longer be read.
    connection = do_connect_integration(company, company.admin, "Old", SECRET, provider.url)
    IntegrationConnection.objects.filter(pk=connection.pk).update(encrypted_access_token="gAAAAA-not-ciphertext")
    connection.refresh_from_db()
    with caplog.at_level(logging.WARNING, logger="keel.integrations"):
        assert do_disconnect_integration(connection, company.admin) is False
    assert "credential unreadable" in caplog.text
    assert provider.requests == [] and not IntegrationConnection.objects.exists()


def test_a_key_in_the_revoke_url_is_never_shown_logged_or_audited(api, company):
    from keel.audit.models import AuditEvent

    response = api.post(
        "integrations",
        {"provider": "Hub", "access_token": "tok-1", "revoke_url": "https://hub.example/revoke?key=SECRETKEY"},
    )
    assert response.status_code == 201, response.content
    assert response.json()["revoke_url"] == "https://hub.example/revoke"
    listed = api.get("integrations")
    assert "SECRETKEY" not in listed.content.decode()
    assert api.delete(f"integrations/{response.json()['id']}").status_code == 204
    audit = list(AuditEvent.objects.filter(company=company).values_list("metadata", flat=True))
    assert audit and "SECRETKEY" not in str(audit)
