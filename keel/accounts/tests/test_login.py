import time

import pytest

from keel.accounts.models import Company
from keel.audit.models import AuditEvent
from keel.testing import PASSWORD, ApiClient


def log_in(client, email, password=PASSWORD, ip="10.1.1.1", **data):
    return client.post("/login/", {"username": email, "password": password, **data}, REMOTE_ADDR=ip)


def test_login_page_has_the_form(client, db):
    body = client.get("/login/").content.decode()
    assert 'name="username"' in body and 'name="password"' in body and ">Log in</button>" in body


def test_login_goes_to_contacts_and_is_audited(client, admin):
    response = log_in(client, admin.email.upper())
    assert response.status_code == 302 and response["Location"] == "/contacts/"
    assert client.get("/profile/").status_code == 200
    event = AuditEvent.objects.get(company=admin.company, action="user.logged_in")
    assert event.actor == admin and event.metadata == {"ip": "10.1.1.1", "via": "form"}


def test_login_follows_a_local_next_but_not_an_outside_one(client, admin):
    assert log_in(client, admin.email, next="/settings/users/")["Location"] == "/settings/users/"
    client.post("/logout/")
    assert log_in(client, admin.email, next="https://evil.example/")["Location"] == "/contacts/"


@pytest.mark.parametrize("email", ["admin-typo@acme.test", None])
def test_wrong_password_or_unknown_email_say_the_same(client, admin, email):
    response = log_in(client, email or admin.email, "wrong password")
    assert response.status_code == 200
    assert "Incorrect e-mail or password." in response.content.decode()
    assert client.get("/profile/").status_code == 302


def test_failed_login_of_a_known_user_is_audited_without_the_password(client, admin):
    log_in(client, admin.email, "wrong password")
    event = AuditEvent.objects.get(company=admin.company, action="user.login_failed")
    assert "wrong password" not in str(event.metadata)


def test_failures_per_account_and_address_are_throttled_even_with_the_right_password(client, admin, settings):
    settings.KEEL_LOGIN_ATTEMPTS = 3
    for _ in range(3):
        log_in(client, admin.email, "wrong", ip="10.2.0.1")
    response = log_in(client, admin.email, ip="10.2.0.1")
    assert "Too many failed attempts. Try again in 5 minutes." in response.content.decode()
    assert client.get("/profile/").status_code == 302


def test_wrong_passwords_from_other_addresses_do_not_lock_the_owner_out(client, admin, settings):
    settings.KEEL_LOGIN_ATTEMPTS = 3
    for n in range(3):
        for _ in range(3):
            log_in(client, admin.email, "wrong", ip=f"10.2.0.{n}")
    assert log_in(client, admin.email, ip="10.2.1.1").status_code == 302


def test_failures_per_address_are_throttled(client, admin, member, settings):
    settings.KEEL_LOGIN_ATTEMPTS = 3
    for n in range(3):
        log_in(client, f"nobody{n}@acme.test", "wrong", ip="10.3.0.1")
    assert "Too many failed attempts" in log_in(client, member.email, ip="10.3.0.1").content.decode()
    # The same user from another address is not affected.
    assert log_in(client, member.email, ip="10.3.0.2").status_code == 302


def test_throttle_ends_with_the_window(client, admin, settings):
    settings.KEEL_LOGIN_ATTEMPTS = 2
    settings.KEEL_LOGIN_WINDOW_SECONDS = 1
    for _ in range(2):
        log_in(client, admin.email, "wrong")
    assert "Try again in 1 minute." in log_in(client, admin.email).content.decode()
    time.sleep(1.2)
    assert log_in(client, admin.email).status_code == 302


def test_a_success_clears_the_email_count(client, admin, settings):
    settings.KEEL_LOGIN_ATTEMPTS = 3
    for attempt in range(2):
        log_in(client, admin.email, "wrong", ip=f"10.4.0.{attempt}")
    assert log_in(client, admin.email, ip="10.4.1.1").status_code == 302
    client.post("/logout/")
    for attempt in range(2):
        log_in(client, admin.email, "wrong", ip=f"10.4.2.{attempt}")
    assert log_in(client, admin.email, ip="10.4.3.1").status_code == 302


def test_a_company_being_deleted_refuses_login(client, admin):
    Company.objects.filter(pk=admin.company_id).update(status=Company.Status.DELETING)
    response = log_in(client, admin.email)
    assert response.status_code == 200
    assert "This company&#x27;s data is being deleted." in response.content.decode()
    assert client.get("/profile/").status_code == 302


def test_a_session_ends_when_its_company_starts_deletion(admin_client, admin):
    assert admin_client.get("/profile/").status_code == 200
    Company.objects.filter(pk=admin.company_id).update(status=Company.Status.DELETING)
    response = admin_client.get("/profile/", follow=True)
    assert response.redirect_chain[-1][0].startswith("/login/")
    assert "This company&#x27;s data is being deleted." in response.content.decode()


def test_a_deactivated_user_cannot_log_in(client, member):
    member.is_active = False
    member.save()
    assert "This account has been deactivated." in log_in(client, member.email).content.decode()


def test_bumping_the_session_epoch_ends_sessions(admin_client, admin):
    assert admin_client.get("/profile/").status_code == 200
    admin.session_epoch += 1
    admin.save()
    assert admin_client.get("/profile/").status_code == 302


def test_logout_needs_post(admin_client):
    assert admin_client.get("/logout/").status_code == 405
    response = admin_client.post("/logout/")
    assert response["Location"] == "/login/"
    assert admin_client.get("/profile/").status_code == 302


def test_home_sends_people_where_they_belong(client, admin_client):
    assert admin_client.get("/")["Location"] == "/contacts/"
    from django.test import Client

    assert Client().get("/")["Location"] == "/login/"


def test_pages_need_login(client, db):
    for path in ("/profile/", "/settings/users/", "/settings/roles/", "/audit/", "/integrations/"):
        response = client.get(path)
        assert response.status_code == 302 and response["Location"].startswith("/login/?next="), path


# --- API ---------------------------------------------------------------------------------------------------------


def post_token(client, email, password=PASSWORD, ip="10.9.9.9"):
    return client.post(
        "/api/v1/auth/token", {"email": email, "password": password}, content_type="application/json", REMOTE_ADDR=ip
    )


def test_api_token_from_credentials(client, admin):
    response = post_token(client, admin.email)
    assert response.status_code == 201
    token = response.json()["token"]
    me = client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert me.status_code == 200 and me.json()["user"]["email"] == admin.email
    assert AuditEvent.objects.filter(company=admin.company, action="api_token.created").exists()


def test_api_bad_credentials_are_401_and_throttled_429(client, admin, settings):
    settings.KEEL_LOGIN_ATTEMPTS = 2
    for _ in range(2):
        response = post_token(client, admin.email, "wrong")
        assert response.status_code == 401
        assert response.json()["error"] == {"code": "invalid_credentials", "message": "Incorrect e-mail or password."}
    response = post_token(client, admin.email)
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "rate_limited"
    assert response.json()["error"]["message"].startswith("Too many failed attempts. Try again in")


def test_api_token_refused_while_the_company_is_deleted(client, admin):
    Company.objects.filter(pk=admin.company_id).update(status=Company.Status.DELETING)
    response = post_token(client, admin.email)
    assert response.status_code == 403
    assert response.json()["error"]["message"] == "This company's data is being deleted."


def test_api_token_invalid_input_names_the_field(client, db):
    response = client.post("/api/v1/auth/token", {"email": "a@b.test"}, content_type="application/json")
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "password"


def test_me(api, admin):
    body = api.get("me").json()
    assert body["user"] == {
        "id": admin.pk,
        "email": admin.email,
        "name": "",
        "role": "Company Administrator",
        "role_id": admin.role_id,
    }
    assert body["company"] == {"id": admin.company_id, "name": "Acme", "plan": "standard", "status": "active"}
    assert "manage_roles" in body["permissions"] and "delete_all_crm_records" not in body["permissions"]


def test_me_of_a_member(member_api):
    body = member_api.get("me").json()
    assert body["user"]["role"] == "Member"
    assert body["permissions"] == ["manage_contacts"]


def test_me_needs_authentication(client, db):
    response = client.get("/api/v1/me")
    assert response.status_code == 401 and response.json()["error"]["code"] == "unauthenticated"
    response = client.get("/api/v1/me", HTTP_AUTHORIZATION="Bearer keel_not-a-token")
    assert response.status_code == 401


def test_session_api_writes_need_csrf(admin, other_company):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    assert client.get("/api/v1/me").status_code == 200
    response = client.patch("/api/v1/roles/1", "{}", content_type="application/json")
    assert response.status_code == 403 and response.json()["error"]["code"] == "csrf_failed"


def test_token_of_a_deleting_company_stops_working(admin):
    api = ApiClient(admin)
    assert api.get("me").status_code == 200
    Company.objects.filter(pk=admin.company_id).update(status=Company.Status.DELETING)
    assert api.get("me").status_code == 401


def test_behind_a_trusted_proxy_the_per_address_limit_counts_each_client_not_the_proxy(client, admin, settings):
    settings.KEEL_LOGIN_ATTEMPTS = 3
    settings.KEEL_TRUSTED_PROXIES = ["10.9.0.0/16"]

    def through_proxy(email, password, client_ip):
        data = {"username": email, "password": password}
        return client.post("/login/", data, REMOTE_ADDR="10.9.0.1", HTTP_X_FORWARDED_FOR=client_ip)

    for n in range(3):
        through_proxy(f"nobody{n}@acme.test", "wrong", "203.0.113.5")
    assert "Too many failed attempts" in through_proxy(admin.email, PASSWORD, "203.0.113.5").content.decode()
    # Everyone else behind the same proxy can still log in: the proxy's own address is not what was counted.
    assert through_proxy(admin.email, PASSWORD, "203.0.113.6").status_code == 302


def test_a_forwarded_for_header_from_an_untrusted_address_is_ignored(client, admin, settings):
    settings.KEEL_LOGIN_ATTEMPTS = 3
    settings.KEEL_TRUSTED_PROXIES = []
    for n in range(3):
        client.post(
            "/login/",
            {"username": f"nobody{n}@acme.test", "password": "wrong"},
            REMOTE_ADDR="10.8.0.1",
            HTTP_X_FORWARDED_FOR=f"198.51.100.{n}",
        )
    response = client.post("/login/", {"username": admin.email, "password": PASSWORD}, REMOTE_ADDR="10.8.0.1")
    assert "Too many failed attempts" in response.content.decode()
