"""Passwords and API tokens after a leak: change password is throttled like re-authentication and can revoke every
token; an administrator's reset and a deactivation revoke them; the login back-off per account and address."""

from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from keel.accounts import actions
from keel.accounts.login import ACCOUNT_THROTTLE
from keel.accounts.models import ApiToken, AttemptCount, Role, User
from keel.audit.models import AuditEvent
from keel.errors import Forbidden, RateLimited
from keel.testing import PASSWORD, ApiClient, make_user

NEW_PASSWORD = "another long passphrase"


def logged_in(user):
    client = Client()
    assert client.post("/login/", {"username": user.email, "password": PASSWORD}).status_code == 302
    return client


def change(client, current, revoke_tokens=False):
    form = {"current_password": current, "password": NEW_PASSWORD, "password2": NEW_PASSWORD}
    if revoke_tokens:
        form["revoke_tokens"] = "1"
    return client.post("/profile/password/", form, follow=True).content.decode()


def test_change_password_is_throttled_like_reauthentication(admin, settings):
    settings.KEEL_REAUTH_ATTEMPTS = 3
    browser = logged_in(admin)
    for _ in range(3):
        assert "Your current password is not correct." in change(browser, "guess")
    assert "Too many wrong current passwords. Try again in 5 minutes." in change(browser, PASSWORD)
    assert User.objects.get(pk=admin.pk).check_password(PASSWORD)


def test_change_password_and_company_deletion_share_the_reauthentication_count(company, admin, settings):
    settings.KEEL_REAUTH_ATTEMPTS = 2
    assert "not correct" in change(logged_in(admin), "guess")
    response = ApiClient(admin).post("company/delete", {"company_name": company.name, "password": "guess"})
    assert response.json()["error"]["code"] == "reauthentication_failed"
    response = ApiClient(admin).post("company/delete", {"company_name": company.name, "password": PASSWORD})
    assert response.status_code == 429


def test_change_password_can_revoke_every_token(admin):
    kept_client = ApiClient(admin)
    assert "Your password has been changed." in change(logged_in(admin), PASSWORD)
    assert kept_client.get("me").status_code == 200  # without the box, tokens go on working
    revoked_client = ApiClient(admin)
    browser = Client()
    assert browser.post("/login/", {"username": admin.email, "password": NEW_PASSWORD}).status_code == 302
    form = {"current_password": NEW_PASSWORD, "password": PASSWORD, "password2": PASSWORD, "revoke_tokens": "1"}
    html = browser.post("/profile/password/", form, follow=True).content.decode()
    assert "Your API tokens have been revoked." in html
    assert revoked_client.get("me").status_code == 401 and kept_client.get("me").status_code == 401


def test_profile_offers_revoking_every_token_beside_change_password(admin):
    ApiClient(admin)
    html = logged_in(admin).get("/profile/").content.decode()
    assert 'name="revoke_tokens"' in html and "Revoke all my tokens" in html


def test_revoke_all_my_tokens_on_the_profile_page_and_in_the_api(admin, member):
    first, second, theirs = ApiClient(admin), ApiClient(admin), ApiClient(member)
    assert "2 API tokens revoked." in logged_in(admin).post("/profile/tokens/revoke-all/", follow=True).content.decode()
    assert first.get("me").status_code == 401 and second.get("me").status_code == 401
    assert theirs.get("me").status_code == 200
    other = ApiClient(member)
    response = other.post("me/tokens/revoke")
    assert response.status_code == 200 and response.json() == {"revoked": 2}
    assert other.get("me").status_code == 401
    assert AuditEvent.objects.filter(action="api_token.revoked_all", actor=member).exists()


def test_an_administrators_reset_locks_everything_at_once(admin, member, django_capture_on_commit_callbacks):
    token, browser = ApiClient(member), logged_in(member)
    with django_capture_on_commit_callbacks(execute=True):
        response = logged_in(admin).post(f"/settings/users/{member.pk}/reset-password/", follow=True)
    assert "The password of" in response.content.decode()
    assert token.get("me").status_code == 401 and browser.get("/profile/").status_code == 302
    assert Client().post("/login/", {"username": member.email, "password": PASSWORD}).status_code == 200
    assert mail.outbox[-1].to == [member.email] and "/set-password/" in mail.outbox[-1].body
    assert AuditEvent.objects.filter(action="user.password_reset", target_id=str(member.pk)).exists()


def test_api_reset_password(api, member, member_api, admin):
    token = ApiClient(member)
    response = api.post(f"users/{member.pk}/reset-password")
    assert response.status_code == 200 and response.json()["invited"] is True
    assert token.get("me").status_code == 401
    assert member_api.post(f"users/{admin.pk}/reset-password").status_code == 401  # revoked with the reset
    assert ApiClient(make_user(admin.company)).post(f"users/{admin.pk}/reset-password").status_code == 403


def test_setting_a_password_through_a_link_ends_every_session(member):
    browser = logged_in(member)
    actions.do_set_password(member, NEW_PASSWORD, actor=None)
    assert browser.get("/profile/").status_code == 302


# --- the login back-off per account and address -----------------------------------------------------------------


def _let_the_wait_pass():
    AttemptCount.objects.filter(scope=ACCOUNT_THROTTLE.name).update(blocked_until=timezone.now())


def _wait_after_one_more_failure(subject):
    ACCOUNT_THROTTLE.reserve(subject)
    return AttemptCount.objects.get(scope=ACCOUNT_THROTTLE.name).blocked_until - timezone.now()


def test_the_back_off_doubles_and_stops_growing_at_the_maximum(db, settings):
    settings.KEEL_LOGIN_ATTEMPTS = 2
    settings.KEEL_LOGIN_WINDOW_SECONDS = 60
    settings.KEEL_LOGIN_BACKOFF_MAX_SECONDS = 300
    ACCOUNT_THROTTLE.reserve("a")  # the first attempt is free
    waits = []
    for _ in range(5):
        waits.append(round(_wait_after_one_more_failure("a").total_seconds() / 60))
        with pytest.raises(RateLimited):
            ACCOUNT_THROTTLE.reserve("a")
        _let_the_wait_pass()
    assert waits == [1, 2, 4, 5, 5]
    ACCOUNT_THROTTLE.forget("a")  # a success
    ACCOUNT_THROTTLE.reserve("a")
    ACCOUNT_THROTTLE.reserve("a")


def test_a_login_from_another_address_is_not_held_back(client, admin, settings):
    settings.KEEL_LOGIN_ATTEMPTS = 2
    for _ in range(2):
        client.post("/login/", {"username": admin.email, "password": "wrong"}, REMOTE_ADDR="192.0.2.66")
    refused = client.post("/login/", {"username": admin.email, "password": PASSWORD}, REMOTE_ADDR="192.0.2.66")
    assert "Too many failed attempts" in refused.content.decode()
    accepted = client.post("/login/", {"username": admin.email, "password": PASSWORD}, REMOTE_ADDR="198.51.100.1")
    assert accepted.status_code == 302


def test_throttle_rows_hold_no_address_or_e_mail(client, admin):
    client.post("/login/", {"username": admin.email, "password": "wrong"}, REMOTE_ADDR="192.0.2.99")
    stored = " ".join(f"{row.scope} {row.subject}" for row in AttemptCount.objects.all())
    assert AttemptCount.objects.count() == 2
    assert "192.0.2.99" not in stored and admin.email not in stored


def test_expired_rows_are_discarded(client, admin):
    client.post("/login/", {"username": admin.email, "password": "wrong"}, REMOTE_ADDR="192.0.2.98")
    past = timezone.now() - timedelta(days=2)
    AttemptCount.objects.update(window_ends_at=past, blocked_until=past)
    client.post("/login/", {"username": admin.email, "password": PASSWORD}, REMOTE_ADDR="192.0.2.98")
    assert not AttemptCount.objects.exists()


# --- every action checks its actor's permission ----------------------------------------------------------------


def test_actions_refuse_an_actor_without_the_permission(company, admin, member):
    manager = make_user(company, "manager")
    member_role = Role.objects.get(company=company, kind="member")
    refused = [
        lambda: actions.do_create_user(company, "x@acme.test", "X", member_role, actor=manager),
        lambda: actions.do_deactivate_user(admin, actor=manager),
        lambda: actions.do_change_user_role(member, member_role, actor=manager),
        lambda: actions.do_reset_password(member, actor=manager),
        lambda: actions.do_send_invitation(member, actor=manager),
        lambda: actions.do_update_role_permissions(member_role, {"import_contacts": True}, actor=manager),
        lambda: actions.do_end_sessions(admin, actor=member),
        lambda: actions.do_revoke_all_api_tokens(admin, actor=member),
        lambda: actions.do_create_api_token(admin, "mine now", actor=member),
    ]
    for attempt in refused:
        with pytest.raises(Forbidden):
            attempt()
    assert not User.objects.filter(email="x@acme.test").exists() and User.objects.get(pk=admin.pk).is_active
    assert not ApiToken.objects.filter(user=admin).exists()
