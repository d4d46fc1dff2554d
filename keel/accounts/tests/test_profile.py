import re

from django.test import Client

from keel.accounts.models import ApiToken, Notice
from keel.accounts.notify import notify
from keel.audit.models import AuditEvent
from keel.testing import PASSWORD, ApiClient, make_user


def bearer(token):
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def test_create_token_shown_once_stored_hashed(admin_client, admin):
    response = admin_client.post("/profile/tokens/", {"name": "Reporting"})
    body = response.content.decode()
    raw = re.search(r'<code id="new-token">(keel_[^<]+)</code>', body).group(1)
    token = ApiToken.objects.get(user=admin, name="Reporting")
    assert token.token_hash == ApiToken.hash(raw) and raw not in token.token_hash and token.prefix == raw[:12]
    assert raw not in admin_client.get("/profile/").content.decode()
    assert Client().get("/api/v1/me", **bearer(raw)).status_code == 200
    event = AuditEvent.objects.get(action="api_token.created", target_id=str(token.pk))
    assert raw not in str(event.metadata)


def test_revoke_token(admin_client, admin):
    token, raw = ApiToken.issue(admin, "old")
    response = admin_client.post(f"/profile/tokens/{token.pk}/revoke/", follow=True)
    assert "Token “old” revoked." in response.content.decode()
    assert Client().get("/api/v1/me", **bearer(raw)).status_code == 401
    assert AuditEvent.objects.filter(action="api_token.revoked", target_id=str(token.pk)).exists()


def test_other_peoples_tokens_are_404(admin_client, company, other_company):
    colleague_token, colleague_raw = ApiToken.issue(make_user(company, "member"), "theirs")
    foreign_token, foreign_raw = ApiToken.issue(other_company.admin, "foreign")
    for token in (colleague_token, foreign_token):
        assert admin_client.post(f"/profile/tokens/{token.pk}/revoke/").status_code == 404
    assert "theirs" not in admin_client.get("/profile/").content.decode()
    assert Client().get("/api/v1/me", **bearer(colleague_raw)).status_code == 200
    assert Client().get("/api/v1/me", **bearer(foreign_raw)).status_code == 200


def test_profile_needs_login_and_post(admin_client):
    anonymous = Client()
    assert anonymous.get("/profile/").status_code == 302
    assert anonymous.post("/profile/tokens/", {"name": "x"}).status_code == 302
    assert admin_client.get("/profile/tokens/").status_code == 405


def test_notices_and_unread_count(admin_client, admin, other_company):
    notify(admin, "Export ready", "Your export is ready.", "/settings/data/export/")
    notify(other_company.admin, "Elsewhere", "Another company's notice.")
    body = admin_client.get("/profile/").content.decode()
    assert "Your export is ready." in body and "Another company" not in body
    assert "1 new notice</a>" in body
    admin_client.post("/profile/notices/read/")
    assert Notice.objects.get(user=admin).read_at is not None
    assert "new notice" not in admin_client.get("/profile/").content.decode()


def test_change_password(admin, company):
    here, elsewhere = Client(), Client()
    for client in (here, elsewhere):
        assert client.post("/login/", {"username": admin.email, "password": PASSWORD}).status_code == 302
    new = "another long passphrase"
    response = here.post(
        "/profile/password/", {"current_password": "wrong", "password": new, "password2": new}, follow=True
    )
    assert "Your current password is not correct." in response.content.decode()
    response = here.post(
        "/profile/password/", {"current_password": PASSWORD, "password": new, "password2": new}, follow=True
    )
    assert "Your password has been changed." in response.content.decode()
    assert here.get("/profile/").status_code == 200
    assert elsewhere.get("/profile/").status_code == 302
    assert AuditEvent.objects.filter(action="user.password_set", target_id=str(admin.pk)).exists()


def test_api_tokens_of_other_users_keep_working_after_a_revoke(admin, member):
    mine, theirs = ApiClient(admin), ApiClient(member)
    token = ApiToken.objects.get(user=admin)
    client = Client()
    client.force_login(admin)
    client.post(f"/profile/tokens/{token.pk}/revoke/")
    assert mine.get("me").status_code == 401 and theirs.get("me").status_code == 200
