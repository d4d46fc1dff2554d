import re

import pytest
from django.core import mail
from django.test import Client

from keel.accounts.models import ApiToken, Role, User
from keel.audit.models import AuditEvent
from keel.testing import ApiClient, grant, make_user

NEW_PASSWORD = "a fresh long passphrase"


def role(company, kind):
    return Role.objects.get(company=company, kind=kind)


def logged_in(user):
    client = Client()
    client.force_login(user)
    return client


# --- page --------------------------------------------------------------------------------------------------------


def test_users_page_lists_only_this_companys_users(admin_client, admin, member, other_company):
    body = admin_client.get("/settings/users/").content.decode()
    assert admin.email in body and member.email in body
    assert other_company.admin.email not in body


@pytest.mark.parametrize("kind", ["manager", "member"])
def test_users_page_is_403_for_lower_roles(company, kind):
    client = logged_in(make_user(company, kind))
    assert client.get("/settings/users/").status_code == 403
    target = company.admin
    for action in ("role", "deactivate", "reactivate", "invite"):
        response = client.post(f"/settings/users/{target.pk}/{action}/", {"role": target.role_id})
        assert response.status_code == 403, action
    assert User.objects.get(pk=target.pk).is_active


def test_user_actions_on_another_companys_user_are_404(admin_client, other_company):
    target = make_user(other_company, "member")
    for action in ("role", "deactivate", "reactivate", "invite"):
        response = admin_client.post(f"/settings/users/{target.pk}/{action}/", {"role": target.role_id})
        assert response.status_code == 404, action
    assert User.objects.get(pk=target.pk).is_active


def test_add_user_with_an_initial_password(admin_client, company):
    response = admin_client.post(
        "/settings/users/",
        {
            "email": "Dana@Acme.test",
            "name": "Dana",
            "role": role(company, "manager").pk,
            "mode": "password",
            "password": NEW_PASSWORD,
        },
        follow=True,
    )
    assert "User dana@acme.test added." in response.content.decode()
    dana = User.objects.get(email="dana@acme.test")
    assert dana.company == company and dana.role.kind == "manager" and dana.check_password(NEW_PASSWORD)
    assert mail.outbox == []
    event = AuditEvent.objects.get(company=company, action="user.created")
    assert event.metadata == {"email": "dana@acme.test", "role": "Manager", "invited": False}


def test_add_user_with_an_invitation_and_set_the_password(admin_client, company, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            "/settings/users/",
            {"email": "erin@acme.test", "name": "Erin", "role": role(company, "member").pk, "mode": "invite"},
        )
    erin = User.objects.get(email="erin@acme.test")
    assert not erin.has_usable_password()
    [message] = mail.outbox
    assert message.to == ["erin@acme.test"] and "Acme" in message.subject
    path = re.search(r"http://[^/]+(/set-password/\S+/)", message.body).group(1)

    visitor = Client()
    assert "erin@acme.test" in visitor.get(path).content.decode()
    response = visitor.post(path, {"password": NEW_PASSWORD, "password2": "something else"})
    assert "The two passwords do not match." in response.content.decode()
    response = visitor.post(path, {"password": "short", "password2": "short"})
    assert "too short" in response.content.decode()
    response = visitor.post(path, {"password": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert response["Location"] == "/login/"
    assert visitor.post("/login/", {"username": "erin@acme.test", "password": NEW_PASSWORD}).status_code == 302
    # The link works once.
    assert Client().get(path).status_code == 404


def test_set_password_link_is_checked(client, member):
    assert client.get("/set-password/xx/not-a-token/").status_code == 404
    assert client.get("/set-password/MQ/1-abc/").status_code == 404


def test_resend_link_to_a_user(admin_client, member):
    admin_client.post(f"/settings/users/{member.pk}/invite/")
    [message] = mail.outbox
    assert message.to == [member.email] and "/set-password/" in message.body
    assert AuditEvent.objects.filter(action="user.invited", target_id=str(member.pk)).exists()


@pytest.mark.parametrize(
    "data, error",
    [
        ({"email": "not-an-email"}, "is not a valid e-mail address"),
        ({"email": "{taken}"}, "A user with this e-mail address already exists."),
        ({"mode": "password", "password": ""}, "Enter an initial password"),
        ({"mode": "password", "password": "password"}, "This password is too common."),
        ({"role": "{other_role}"}, "Choose one of the company&#x27;s roles."),
    ],
)
def test_add_user_refuses_bad_input_and_keeps_the_form(admin_client, company, other_company, member, data, error):
    form = {"email": "frank@acme.test", "name": "Frank Keeps", "role": role(company, "member").pk, "mode": "invite"}
    form.update(data)
    form = {k: str(v).format(taken=member.email, other_role=role(other_company, "member").pk) for k, v in form.items()}
    count = User.objects.count()
    body = admin_client.post("/settings/users/", form).content.decode()
    assert error in body
    assert "Frank Keeps" in body
    assert User.objects.count() == count


def test_change_role(admin_client, company, member):
    response = admin_client.post(
        f"/settings/users/{member.pk}/role/", {"role": role(company, "manager").pk}, follow=True
    )
    assert f"Role of {member.email} changed." in response.content.decode()
    assert User.objects.get(pk=member.pk).role.kind == "manager"
    event = AuditEvent.objects.get(action="user.role_changed")
    assert event.metadata["before"] == "Member" and event.metadata["after"] == "Manager"


def test_change_role_to_another_companys_role_is_refused(admin_client, member, other_company):
    response = admin_client.post(
        f"/settings/users/{member.pk}/role/", {"role": role(other_company, "manager").pk}, follow=True
    )
    assert "Choose one of the company&#x27;s roles." in response.content.decode()
    assert User.objects.get(pk=member.pk).role.kind == "member"


def test_deactivation_ends_sessions_and_tokens_at_once(admin_client, member):
    member_browser = logged_in(member)
    member_api = ApiClient(member)
    assert member_browser.get("/profile/").status_code == 200
    assert member_api.get("me").status_code == 200

    response = admin_client.post(f"/settings/users/{member.pk}/deactivate/", follow=True)
    assert "deactivated" in response.content.decode()

    assert member_browser.get("/profile/").status_code == 302
    assert member_api.get("me").status_code == 401
    assert not ApiToken.objects.filter(user=member, revoked_at__isnull=True).exists()
    assert AuditEvent.objects.get(action="user.deactivated").metadata["tokens_revoked"] == 1

    admin_client.post(f"/settings/users/{member.pk}/reactivate/")
    member = User.objects.get(pk=member.pk)
    assert member.is_active
    # Reactivation gives back the ability to log in, not the old sessions or tokens.
    assert member_browser.get("/profile/").status_code == 302
    assert member_api.get("me").status_code == 401


def test_the_last_active_admin_cannot_be_demoted_or_deactivated(company, admin):
    other_admin = make_user(company, "admin")
    client = logged_in(other_admin)
    client.post(f"/settings/users/{admin.pk}/deactivate/")
    assert not User.objects.get(pk=admin.pk).is_active

    # other_admin is now the last active Company Administrator.
    client = logged_in(other_admin)
    response = client.post(f"/settings/users/{other_admin.pk}/role/", {"role": role(company, "member").pk}, follow=True)
    assert "The company must keep at least one active Company Administrator." in response.content.decode()
    assert User.objects.get(pk=other_admin.pk).role.kind == "admin"


def test_nobody_deactivates_themselves(admin_client, admin):
    make_user(admin.company, "admin")
    response = admin_client.post(f"/settings/users/{admin.pk}/deactivate/", follow=True)
    assert "You cannot deactivate yourself." in response.content.decode()
    assert User.objects.get(pk=admin.pk).is_active


def test_only_an_admin_grants_or_removes_the_admin_role(company, admin, member):
    grant(company, "manage_users", "manager")
    client = logged_in(make_user(company, "manager"))
    client.post(f"/settings/users/{member.pk}/role/", {"role": role(company, "admin").pk})
    assert User.objects.get(pk=member.pk).role.kind == "member"
    client.post(f"/settings/users/{admin.pk}/deactivate/")
    assert User.objects.get(pk=admin.pk).is_active
    # ... but may manage the other users.
    client.post(f"/settings/users/{member.pk}/role/", {"role": role(company, "manager").pk})
    assert User.objects.get(pk=member.pk).role.kind == "manager"


# --- API ---------------------------------------------------------------------------------------------------------


def test_api_list_users(api, admin, member, other_company):
    body = api.get("users").json()
    assert [u["email"] for u in body] == [admin.email, member.email]
    assert body[0]["role"] == "Company Administrator" and body[0]["is_active"] is True
    assert all("password" not in u for u in body)


def test_api_users_is_403_for_lower_roles(company, member_api, member):
    manager_api = ApiClient(make_user(company, "manager"))
    for client in (member_api, manager_api):
        assert client.get("users").status_code == 403
        assert client.get(f"users/{member.pk}").status_code == 403
        response = client.post("users", {"email": "x@acme.test", "role_id": member.role_id, "password": NEW_PASSWORD})
        assert response.status_code == 403 and response.json()["error"]["code"] == "permission_denied"
        assert client.patch(f"users/{member.pk}", {"is_active": False}).status_code == 403
    assert User.objects.get(pk=member.pk).is_active


def test_api_another_companys_user_is_404(api, other_company):
    target = make_user(other_company, "member")
    assert api.get(f"users/{target.pk}").status_code == 404
    response = api.patch(f"users/{target.pk}", {"is_active": False})
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert User.objects.get(pk=target.pk).is_active


def test_api_create_user_with_password(api, company):
    response = api.post(
        "users",
        {"email": "gil@acme.test", "name": "Gil", "role_id": role(company, "member").pk, "password": NEW_PASSWORD},
    )
    assert response.status_code == 201
    body = response.json()
    assert body["email"] == "gil@acme.test" and body["role"] == "Member" and body["invited"] is False
    assert "password" not in response.content.decode()
    assert Client().post("/login/", {"username": "gil@acme.test", "password": NEW_PASSWORD}).status_code == 302


def test_api_create_user_without_password_invites(api, company, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("users", {"email": "hal@acme.test", "name": "Hal", "role_id": role(company, "member").pk})
    assert response.status_code == 201 and response.json()["invited"] is True
    assert mail.outbox[0].to == ["hal@acme.test"]


def test_api_create_user_errors(api, company, other_company, member):
    member_role = role(company, "member").pk
    cases = [
        ({"email": "ivy@acme.test", "role_id": role(other_company, "member").pk}, "role_id", "unknown_role"),
        ({"email": "nope", "role_id": member_role}, "email", "invalid_input"),
        ({"email": member.email, "role_id": member_role}, "email", "email_taken"),
        ({"email": "ivy@acme.test", "role_id": member_role, "password": "1234"}, "password", "weak_password"),
    ]
    for data, field, code in cases:
        response = api.post("users", data)
        assert response.status_code == 422, data
        assert response.json()["error"]["code"] == code and response.json()["error"]["field"] == field
    response = api.post("users", {"email": "ivy@acme.test"})
    assert response.status_code == 422 and response.json()["error"]["fields"][0]["field"] == "role_id"
    assert not User.objects.filter(email="ivy@acme.test").exists()


def test_api_patch_role_and_active(api, company, member):
    response = api.patch(f"users/{member.pk}", {"role_id": role(company, "manager").pk})
    assert response.status_code == 200 and response.json()["role"] == "Manager"
    response = api.patch(f"users/{member.pk}", {"is_active": False})
    assert response.status_code == 200 and response.json()["is_active"] is False
    response = api.patch(f"users/{member.pk}", {"is_active": True})
    assert response.json()["is_active"] is True


def test_api_patch_with_another_companys_role_is_422(api, member, other_company):
    response = api.patch(f"users/{member.pk}", {"role_id": role(other_company, "admin").pk})
    assert response.status_code == 422 and response.json()["error"]["code"] == "unknown_role"
    assert User.objects.get(pk=member.pk).role.kind == "member"


def test_api_last_admin_is_409(company, admin):
    second = make_user(company, "admin")
    api = ApiClient(second)
    response = api.patch(f"users/{admin.pk}", {"role_id": role(company, "member").pk})
    assert response.status_code == 200
    response = ApiClient(second).patch(f"users/{second.pk}", {"role_id": role(company, "member").pk})
    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "last_admin",
        "message": "The company must keep at least one active Company Administrator.",
    }
    assert User.objects.get(pk=second.pk).role.kind == "admin"


def test_api_patch_is_all_or_nothing(company, admin):
    # The role change would be fine alone; the deactivation of oneself is refused, so neither happens.
    second = make_user(company, "admin")
    response = ApiClient(admin).patch(f"users/{admin.pk}", {"role_id": role(company, "manager").pk, "is_active": False})
    assert response.status_code == 422
    admin = User.objects.get(pk=admin.pk)
    assert admin.role.kind == "admin" and admin.is_active and second.is_active


def test_api_deactivation_kills_the_users_token(api, member):
    member_api = ApiClient(member)
    assert member_api.get("me").status_code == 200
    api.patch(f"users/{member.pk}", {"is_active": False})
    assert member_api.get("me").status_code == 401


def test_add_user_form_defaults_to_the_member_role(admin_client, company):
    body = admin_client.get("/settings/users/").content.decode()
    assert f'<option value="{role(company, "member").pk}" selected>Member</option>' in body


def test_add_user_answers_about_addresses_elsewhere_a_limited_number_of_times(api, company, other_company, settings):
    """E-mail addresses are unique across Keel, so "taken" says an address has an account somewhere: such answers
    are limited per company, after which every address outside the company waits alike (free or taken)."""
    settings.KEEL_EMAIL_TAKEN_ANSWERS = 2
    member_role = role(company, "member").pk
    elsewhere = [make_user(other_company, "member").email for _ in range(3)]
    for email in elsewhere[:2]:
        response = api.post("users", {"email": email, "role_id": member_role, "password": NEW_PASSWORD})
        assert response.status_code == 422 and response.json()["error"]["code"] == "email_taken"
        assert response.json()["error"]["message"] == "A user with this e-mail address already exists."
    for email in (elsewhere[2], "free-address@acme.test"):
        response = api.post("users", {"email": email, "role_id": member_role, "password": NEW_PASSWORD})
        assert response.status_code == 429 and response.json()["error"]["field"] == "email"
    # An address of the company's own users is no secret to its administrator: always answered.
    response = api.post("users", {"email": company.admin.email, "role_id": member_role})
    assert response.json()["error"]["code"] == "email_taken"
    assert not User.objects.filter(email="free-address@acme.test").exists()
