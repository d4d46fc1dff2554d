"""Server-side sessions: logout, deactivation, a password change, a reset and company deletion end them for real
(a copied cookie stops working), and a user sees and ends their other sessions on the profile page."""

import pytest
from django.conf import settings as django_settings
from django.contrib.sessions.models import Session
from django.test import Client

from keel.accounts.actions import do_end_sessions
from keel.accounts.models import Company, UserSession
from keel.datacontrol import graph
from keel.errors import Forbidden
from keel.testing import PASSWORD, ApiClient

NEW_PASSWORD = "another long passphrase"


def logged_in(user, agent="Firefox on Linux", ip="198.51.100.4"):
    client = Client(HTTP_USER_AGENT=agent, REMOTE_ADDR=ip)
    assert client.post("/login/", {"username": user.email, "password": PASSWORD}).status_code == 302
    return client


def copy_of(client):
    """Another browser holding a copy of ``client``'s session cookie (as a thief would)."""
    thief = Client()
    thief.cookies[django_settings.SESSION_COOKIE_NAME] = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    return thief


def test_a_copied_cookie_stops_working_after_logout(admin):
    browser = logged_in(admin)
    thief = copy_of(browser)
    assert thief.get("/profile/").status_code == 200
    browser.post("/logout/")
    assert thief.get("/profile/").status_code == 302
    assert not Session.objects.exists() and not UserSession.objects.exists()


def test_a_copied_cookie_stops_working_after_deactivation(admin, member):
    thief = copy_of(logged_in(member))
    assert thief.get("/profile/").status_code == 200
    assert logged_in(admin).post(f"/settings/users/{member.pk}/deactivate/").status_code == 302
    assert thief.get("/profile/").status_code == 302
    assert not UserSession.objects.filter(user=member).exists()


def test_a_copied_cookie_stops_working_after_a_password_change(admin):
    browser = logged_in(admin)
    thief = copy_of(browser)
    form = {"current_password": PASSWORD, "password": NEW_PASSWORD, "password2": NEW_PASSWORD}
    assert "Your password has been changed." in browser.post("/profile/password/", form, follow=True).content.decode()
    assert thief.get("/profile/").status_code == 302
    assert browser.get("/profile/").status_code == 200  # the session that changed it goes on
    assert UserSession.objects.filter(user=admin).count() == 1


def test_profile_lists_the_sessions_and_ends_another_one(admin):
    laptop = logged_in(admin, agent="Firefox on Linux", ip="198.51.100.4")
    phone = logged_in(admin, agent="Safari on iPhone", ip="203.0.113.9")
    html = laptop.get("/profile/").content.decode()
    assert "Firefox on Linux" in html and "Safari on iPhone" in html and "203.0.113.9" in html
    assert "this session" in html
    other = UserSession.objects.get(user=admin, user_agent="Safari on iPhone")
    response = laptop.post(f"/profile/sessions/{other.pk}/end/", follow=True)
    assert "The session has ended." in response.content.decode()
    assert phone.get("/profile/").status_code == 302 and laptop.get("/profile/").status_code == 200


def test_end_all_other_sessions(admin):
    laptop, phone, tablet = logged_in(admin), logged_in(admin), logged_in(admin)
    assert "2 other sessions ended." in laptop.post("/profile/sessions/end-others/", follow=True).content.decode()
    assert phone.get("/profile/").status_code == 302 and tablet.get("/profile/").status_code == 302
    assert laptop.get("/profile/").status_code == 200


def test_nobody_ends_another_users_session(admin, member):
    logged_in(member)
    theirs = UserSession.objects.get(user=member)
    assert logged_in(admin).post(f"/profile/sessions/{theirs.pk}/end/").status_code == 404
    assert Session.objects.filter(session_key=theirs.session_key).exists()


def test_company_deletion_ends_every_session_of_the_company(company, admin, member, other_company):
    member_browser, outsider = logged_in(member), logged_in(other_company.admin)
    response = ApiClient(admin).post("company/delete", {"company_name": company.name, "password": PASSWORD})
    assert response.status_code == 202
    company_keys = UserSession.objects.filter(company=company).values_list("session_key", flat=True)
    assert not Session.objects.filter(session_key__in=list(company_keys)).exists()
    # The browser coming back is told why, and another company's session goes on.
    response = member_browser.get("/contacts/", follow=True)
    assert "This company&#x27;s data is being deleted." in response.content.decode()
    assert outsider.get("/profile/").status_code == 200


def test_ending_a_companys_sessions_is_for_the_system_only(company, admin):
    logged_in(admin)
    with pytest.raises(Forbidden):
        do_end_sessions(company, actor=admin)
    assert Session.objects.count() == 1
    assert do_end_sessions(Company.objects.get(pk=company.pk), actor=None) == 1
    assert Session.objects.count() == 0


def test_session_rows_are_tenant_rows_whose_key_never_leaves():
    assert graph.is_tenant_model(UserSession)
    assert graph.secret_columns(UserSession) == {"session_key"}


def test_last_seen_is_stored_at_most_once_a_minute(admin):
    from datetime import timedelta

    from django.utils import timezone

    browser = logged_in(admin)
    old = timezone.now() - timedelta(hours=1)
    UserSession.objects.update(last_seen_at=old)
    session = browser.session
    session["keel_last_seen"] = old.timestamp()
    session.save()
    browser.get("/profile/")
    assert UserSession.objects.get().last_seen_at > old + timedelta(minutes=59)


def test_clearing_expired_sessions_clears_their_rows(admin):
    from django.core.management import call_command
    from django.utils import timezone

    logged_in(admin)
    kept = logged_in(admin)
    expired = UserSession.objects.exclude(session_key=kept.session.session_key).get()
    Session.objects.filter(session_key=expired.session_key).update(expire_date=timezone.now())
    call_command("clearsessions")
    assert list(UserSession.objects.values_list("session_key", flat=True)) == [kept.session.session_key]
