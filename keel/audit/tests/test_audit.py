import pytest
from django.test import Client

from keel.audit.actions import record
from keel.audit.models import AuditEvent
from keel.testing import ApiClient, make_user


def logged_in(user):
    client = Client()
    client.force_login(user)
    return client


def test_audit_events_are_append_only(company, admin):
    event = record(company, admin, "test.happened", admin, detail="x")
    event.action = "test.rewritten"
    with pytest.raises(ValueError, match="append-only"):
        event.save()
    assert AuditEvent.objects.get(pk=event.pk).action == "test.happened"
    assert event.actor_label == admin.email and event.target_type == "user" and event.target_id == str(admin.pk)


def test_audit_page_newest_first_and_keyset_paginated(admin_client, company, admin):
    AuditEvent.objects.filter(company=company).delete()
    for n in range(60):
        record(company, admin, f"test.event_{n:02d}")
    first = admin_client.get("/audit/").content.decode()
    assert first.index("test.event_59") < first.index("test.event_58")
    assert "test.event_10" in first and "test.event_09" not in first
    oldest_shown = AuditEvent.objects.get(action="test.event_10")
    assert f'href="/audit/?before={oldest_shown.pk}"' in first
    second = admin_client.get(f"/audit/?before={oldest_shown.pk}").content.decode()
    assert "test.event_09" in second and "test.event_00" in second and "test.event_10" not in second
    assert "Older →" not in second


def test_audit_page_shows_only_this_company(admin_client, other_company):
    record(other_company, other_company.admin, "test.elsewhere")
    assert "test.elsewhere" not in admin_client.get("/audit/").content.decode()


@pytest.mark.parametrize("kind", ["manager", "member"])
def test_audit_page_is_403_for_lower_roles(company, kind):
    assert logged_in(make_user(company, kind)).get("/audit/").status_code == 403


def test_audit_needs_the_permission_even_for_an_admin(admin_client, company):
    from keel.accounts.models import Role

    admin_role = Role.objects.get(company=company, kind="admin")
    admin_role.permissions = [p for p in admin_role.permissions if p != "view_audit_log"]
    admin_role.save()
    assert admin_client.get("/audit/").status_code == 403


def test_audit_api(api, company, admin, other_company):
    record(other_company, other_company.admin, "test.elsewhere")
    for n in range(5):
        record(company, admin, f"test.event_{n}", admin, n=n)
    page = api.get("audit", {"limit": 3}).json()
    assert [e["action"] for e in page["items"]] == ["test.event_4", "test.event_3", "test.event_2"]
    assert page["items"][0]["actor"] == {"id": admin.pk, "email": admin.email}
    assert page["items"][0]["metadata"] == {"n": 4}
    assert page["items"][0]["target_type"] == "user"
    seen = [e["action"] for e in page["items"]]
    while page["next_before"]:
        page = api.get("audit", {"limit": 3, "before": page["next_before"]}).json()
        seen += [e["action"] for e in page["items"]]
    assert "test.elsewhere" not in seen
    assert seen[-1] == "company.created"
    assert len(seen) == len(set(seen)) == AuditEvent.objects.filter(company=company).count()


def test_audit_api_bad_input_is_422(api):
    response = api.get("audit", {"limit": 0})
    assert response.status_code == 422 and response.json()["error"]["fields"][0]["field"] == "limit"


def test_audit_api_is_403_for_lower_roles(company, member_api):
    assert member_api.get("audit").status_code == 403
    assert ApiClient(make_user(company, "manager")).get("audit").status_code == 403


def test_audit_api_other_company_sees_nothing_of_ours(company, admin, other_api):
    record(company, admin, "test.ours")
    actions = [e["action"] for e in other_api.get("audit").json()["items"]]
    assert "test.ours" not in actions


def test_the_audit_log_records_logins_role_changes_tokens_and_integrations(company, admin, client):
    from keel.accounts.actions import do_create_api_token, do_update_role_permissions
    from keel.accounts.models import Role
    from keel.integrations.actions import do_connect_integration, do_disconnect_integration
    from keel.testing import PASSWORD

    client.post("/login/", {"username": admin.email, "password": PASSWORD})
    admin_role = Role.objects.get(company=company, kind="admin")
    do_update_role_permissions(admin_role, {"delete_all_crm_records": True}, actor=admin)
    do_create_api_token(admin, "script")
    connection = do_connect_integration(company, admin, "Mailer", "secret-access-token-123")
    do_disconnect_integration(connection, admin)
    actions = set(AuditEvent.objects.filter(company=company).values_list("action", flat=True))
    assert {
        "user.logged_in",
        "role.updated",
        "api_token.created",
        "integration.connected",
        "integration.disconnected",
    } <= actions
    everything = str(list(AuditEvent.objects.values_list("metadata", flat=True)))
    assert "secret-access-token-123" not in everything and PASSWORD not in everything


def test_audit_page_names_targets_readably(admin_client, company, admin):
    from keel.accounts.models import ApiToken

    token, _ = ApiToken.issue(admin, "x")
    record(company, admin, "test.token", token)
    assert f"api token #{token.pk}" in admin_client.get("/audit/").content.decode()
