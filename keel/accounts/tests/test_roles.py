import pytest
from django.test import Client

from keel.accounts import permissions
from keel.accounts.models import Role
from keel.audit.models import AuditEvent
from keel.testing import ApiClient, grant, make_user


def role(company, kind):
    return Role.objects.get(company=company, kind=kind)


def logged_in(user):
    client = Client()
    client.force_login(user)
    return client


def test_deletion_of_all_crm_records_is_off_by_default_for_every_role(company):
    for r in Role.objects.filter(company=company):
        assert "delete_all_crm_records" not in r.permissions, r.name
    assert sorted(Role.objects.filter(company=company).values_list("name", flat=True)) == [
        "Company Administrator",
        "Manager",
        "Member",
    ]


def test_roles_page_lists_the_roles(admin_client, other_company):
    body = admin_client.get("/settings/roles/").content.decode()
    for name in ("Company Administrator", "Manager", "Member"):
        assert name in body
    assert f"/settings/roles/{role(other_company, 'admin').pk}/" not in body


@pytest.mark.parametrize("kind", ["manager", "member"])
def test_roles_pages_are_403_for_lower_roles(company, kind):
    client = logged_in(make_user(company, kind))
    admin_role = role(company, "admin")
    assert client.get("/settings/roles/").status_code == 403
    assert client.get(f"/settings/roles/{admin_role.pk}/").status_code == 403
    assert (
        client.post(f"/settings/roles/{admin_role.pk}/", {"permissions": ["delete_all_crm_records"]}).status_code == 403
    )
    assert "delete_all_crm_records" not in Role.objects.get(pk=admin_role.pk).permissions


def test_another_companys_role_is_404(admin_client, other_company):
    other_role = role(other_company, "admin")
    assert admin_client.get(f"/settings/roles/{other_role.pk}/").status_code == 404
    assert admin_client.post(f"/settings/roles/{other_role.pk}/", {"permissions": []}).status_code == 404
    assert Role.objects.get(pk=other_role.pk).permissions == permissions.default_permissions("admin")


def test_admin_role_page_shows_labelled_checkboxes(admin_client, company):
    body = admin_client.get(f"/settings/roles/{role(company, 'admin').pk}/").content.decode()
    for perm in permissions.PERMISSIONS:
        assert perm.label in body
    assert (
        '<input type="checkbox" name="permissions" value="delete_all_crm_records" id="perm-delete_all_crm_records">'
        in body
    )


def test_admin_only_permissions_are_not_offered_on_other_roles(admin_client, company):
    body = admin_client.get(f"/settings/roles/{role(company, 'manager').pk}/").content.decode()
    assert "Allow deletion of all CRM records" not in body
    assert "Manage contacts" in body


def test_save_admin_role_with_crm_deletion(admin_client, company):
    admin_role = role(company, "admin")
    checked = [*admin_role.permissions, "delete_all_crm_records"]
    response = admin_client.post(f"/settings/roles/{admin_role.pk}/", {"permissions": checked}, follow=True)
    assert "Role saved." in response.content.decode()
    assert 'value="delete_all_crm_records" id="perm-delete_all_crm_records" checked' in response.content.decode()
    assert "delete_all_crm_records" in Role.objects.get(pk=admin_role.pk).permissions
    event = AuditEvent.objects.get(company=company, action="role.updated")
    assert event.metadata["granted"] == ["delete_all_crm_records"]
    assert "delete_all_crm_records" not in event.metadata["before"]
    assert "delete_all_crm_records" in event.metadata["after"]


def test_unchecking_removes_a_permission(admin_client, company):
    manager_role = role(company, "manager")
    admin_client.post(f"/settings/roles/{manager_role.pk}/", {"permissions": ["manage_contacts"]})
    assert Role.objects.get(pk=manager_role.pk).permissions == ["manage_contacts"]


def test_granting_crm_deletion_to_another_role_is_refused(admin_client, company):
    manager_role = role(company, "manager")
    before = list(manager_role.permissions)
    response = admin_client.post(
        f"/settings/roles/{manager_role.pk}/", {"permissions": [*before, "delete_all_crm_records"]}, follow=True
    )
    assert (
        "“Allow deletion of all CRM records” can be granted to the Company Administrator role only."
        in response.content.decode()
    )
    assert Role.objects.get(pk=manager_role.pk).permissions == before


def test_the_admin_role_keeps_user_and_role_management(admin_client, company):
    admin_role = role(company, "admin")
    response = admin_client.post(f"/settings/roles/{admin_role.pk}/", {"permissions": ["manage_contacts"]}, follow=True)
    assert "so that the company cannot lock itself out" in response.content.decode()
    assert Role.objects.get(pk=admin_role.pk).permissions == permissions.default_permissions("admin")


def test_a_non_admin_with_manage_roles_cannot_change_the_admin_role(company):
    grant(company, "manage_roles", "manager")
    client = logged_in(make_user(company, "manager"))
    admin_role = role(company, "admin")
    response = client.post(f"/settings/roles/{admin_role.pk}/", {"permissions": []}, follow=True)
    assert "Only a Company Administrator can change the Company Administrator role." in response.content.decode()
    assert Role.objects.get(pk=admin_role.pk).permissions == permissions.default_permissions("admin")
    # ... but may change the other roles.
    member_role = role(company, "member")
    client.post(f"/settings/roles/{member_role.pk}/", {"permissions": ["manage_contacts", "import_contacts"]})
    assert Role.objects.get(pk=member_role.pk).permissions == ["import_contacts", "manage_contacts"]


def test_menu_shows_admin_settings_by_permission(admin_client, company):
    assert 'href="/settings/roles/"' in admin_client.get("/profile/").content.decode()
    member_page = logged_in(make_user(company, "member")).get("/profile/").content.decode()
    assert 'href="/settings/roles/"' not in member_page and 'href="/settings/users/"' not in member_page


# --- API ---------------------------------------------------------------------------------------------------------


def test_api_list_and_get_roles(api, company, other_company):
    body = api.get("roles").json()
    assert [r["name"] for r in body] == ["Company Administrator", "Manager", "Member"]
    admin_role = body[0]
    assert admin_role["permissions"]["delete_all_crm_records"] is False
    assert admin_role["permissions"]["manage_roles"] is True
    assert set(admin_role["permissions"]) == set(permissions.PERMISSIONS_BY_CODE)
    assert "delete_all_crm_records" in admin_role["offered"]
    assert "delete_all_crm_records" not in body[2]["offered"]
    assert api.get(f"roles/{admin_role['id']}").json() == admin_role


def test_api_roles_another_company_is_404(api, other_company):
    other_role = role(other_company, "admin")
    assert api.get(f"roles/{other_role.pk}").status_code == 404
    response = api.patch(f"roles/{other_role.pk}", {"permissions": {"delete_all_crm_records": True}})
    assert response.status_code == 404
    assert "delete_all_crm_records" not in Role.objects.get(pk=other_role.pk).permissions


@pytest.mark.parametrize("kind", ["manager", "member"])
def test_api_roles_is_403_for_lower_roles(company, kind):
    client = ApiClient(make_user(company, kind))
    admin_role = role(company, "admin")
    assert client.get("roles").status_code == 403
    assert client.get(f"roles/{admin_role.pk}").status_code == 403
    response = client.patch(f"roles/{admin_role.pk}", {"permissions": {"delete_all_crm_records": True}})
    assert response.status_code == 403 and response.json()["error"]["code"] == "permission_denied"


def test_api_patch_role(api, company):
    admin_role = role(company, "admin")
    response = api.patch(f"roles/{admin_role.pk}", {"permissions": {"delete_all_crm_records": True}})
    assert response.status_code == 200
    assert response.json()["permissions"]["delete_all_crm_records"] is True
    assert "delete_all_crm_records" in api.get("me").json()["permissions"]
    response = api.patch(f"roles/{admin_role.pk}", {"permissions": {"delete_all_crm_records": False}})
    assert response.json()["permissions"]["delete_all_crm_records"] is False
    assert AuditEvent.objects.filter(action="role.updated").count() == 2


def test_api_patch_role_errors(api, company):
    manager_role = role(company, "manager")
    before = list(manager_role.permissions)
    response = api.patch(f"roles/{manager_role.pk}", {"permissions": {"delete_all_crm_records": True}})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "permission_not_allowed_for_role"
    response = api.patch(f"roles/{manager_role.pk}", {"permissions": {"manage_contacts": False, "fly_to_moon": True}})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "unknown_permission" and "fly_to_moon" in error["message"]
    assert error["field"] == "permissions.fly_to_moon"
    response = api.patch(f"roles/{manager_role.pk}", {"permissions": {"manage_contacts": "maybe"}})
    assert response.status_code == 422 and "permissions.manage_contacts" in response.json()["error"]["message"]
    assert api.patch(f"roles/{manager_role.pk}", {}).status_code == 422
    assert Role.objects.get(pk=manager_role.pk).permissions == before
