"""Request-wide security (docs/security.md): server errors, headers, proxies, secrets kept out of logs, link expiry."""

import json
import logging
import os
import re
import stat
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.servers.basehttp import WSGIRequestHandler, WSGIServer
from django.core.wsgi import get_wsgi_application
from django.test import Client
from django.utils import timezone

from keel.clientaddr import client_address, parse_networks
from keel.datacontrol.company_deletion.receipt import hash_status_token
from keel.datacontrol.models import DeletionReceipt
from keel.testing import PASSWORD

KEEL = Path(__file__).resolve().parent.parent


# --- server errors --------------------------------------------------------------------------------------------------


def explode(*args, **kwargs):
    raise RuntimeError("boom: a bug for the test")


def written_by_keels_handlers(record):
    """What the handlers configured in settings.LOGGING write for ``record`` (DEBUG is off in tests, as in
    production): the traceback must reach the operator's log, not only a test's capture."""
    written = []
    logger = logging.getLogger(record.name)
    while logger:
        for handler in logger.handlers:
            # A stream or file: e-mail to ADMINS (Django's default when DEBUG is off) is no log an operator reads.
            ours = isinstance(handler, logging.StreamHandler) and not type(handler).__module__.startswith("_pytest")
            if ours and handler.filter(record):
                written.append(handler.format(record))
        logger = logger.parent if logger.propagate else None
    return "\n".join(written)


def test_an_api_server_error_is_logged_with_its_traceback_and_answered_in_the_error_shape(api, monkeypatch, caplog):
    monkeypatch.setattr("keel.integrations.api._connections", explode)
    with caplog.at_level(logging.ERROR, logger="django.request"):
        response = api.get("integrations")
    assert response.status_code == 500
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == "server_error" and "boom" not in error["message"]
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.name == "django.request" and "/api/v1/integrations" in record.getMessage()
    assert record.exc_info and "boom: a bug for the test" in caplog.text and "Traceback" in caplog.text
    written = written_by_keels_handlers(record)
    assert "Traceback" in written and "boom: a bug for the test" in written


def test_a_page_server_error_is_logged_with_its_traceback_and_answered_by_djangos_500_page(admin, monkeypatch, caplog):
    monkeypatch.setattr("keel.integrations.views.render", explode)
    client = Client(raise_request_exception=False)
    client.force_login(admin)
    with caplog.at_level(logging.ERROR, logger="django.request"):
        response = client.get("/integrations/")
    assert response.status_code == 500 and b"Server Error (500)" in response.content
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.exc_info and "boom: a bug for the test" in caplog.text
    written = written_by_keels_handlers(record)
    assert "Traceback" in written and "boom: a bug for the test" in written


def test_a_500_from_outside_an_api_view_is_in_the_error_shape_too(api, monkeypatch):
    # An exception in a middleware below JsonApiErrors: Django would answer its HTML 500; the API answers JSON.
    monkeypatch.setattr("django.contrib.messages.middleware.default_storage", explode)
    client = Client(raise_request_exception=False)
    response = client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {api.token}")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "server_error"


# --- the API docs page ----------------------------------------------------------------------------------------------


def test_the_api_docs_page_loads_nothing_from_another_origin(client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    html = response.content.decode()
    references = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)""", html)
    assert references and all(ref.startswith("/") and not ref.startswith("//") for ref in references), references
    assert "cdn" not in html.lower() and "https://" not in html and "http://" not in html
    for ref in references:
        assert client.get(ref).status_code == 200, ref  # served by Keel itself (django-ninja's bundled files)
    assert "script-src 'self'" in response["Content-Security-Policy"]


# --- headers --------------------------------------------------------------------------------------------------------


def test_every_page_has_a_content_security_policy_without_inline_script(client):
    policy = client.get("/login/")["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["object-src"] == "'none'" and directives["frame-ancestors"] == "'none'"
    assert "'unsafe-inline'" not in directives["script-src"] and "'unsafe-eval'" not in policy


def test_no_template_has_inline_script_or_event_handler_attributes():
    inline_script = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I)
    handler_attribute = re.compile(r"<[^>]+\son[a-z]+\s*=", re.I)
    offenders = []
    for template in KEEL.rglob("templates/**/*.html"):
        text = template.read_text()
        if inline_script.search(text) or handler_attribute.search(text) or "javascript:" in text:
            offenders.append(str(template.relative_to(KEEL)))
    assert offenders == []


def test_signed_in_pages_and_api_answers_are_not_stored(admin_client, api, client):
    for response in (admin_client.get("/contacts/"), admin_client.get("/integrations/"), api.get("contacts")):
        assert response.status_code == 200
        assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"]
    assert "no-store" in api.get("/api/v1/nope").get("Cache-Control", "")  # also errors
    assert "no-store" not in client.get("/static/keel/keel.css").get("Cache-Control", "")


def test_https_redirect_and_hsts_when_secure_cookies_are_on(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    response = client.get("/login/")
    assert response.status_code == 301 and response["Location"] == "https://testserver/login/"
    secure = client.get("/login/", secure=True)
    assert secure.status_code == 200 and secure["Strict-Transport-Security"] == "max-age=31536000"


@pytest.fixture
def behind_a_proxy(settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True
    settings.KEEL_TRUSTED_PROXIES = ["10.0.0.0/8", "fd00::/8"]
    return settings


def test_log_in_through_a_trusted_https_proxy(admin, behind_a_proxy):
    proxied = {"REMOTE_ADDR": "10.0.0.7", "HTTP_X_FORWARDED_PROTO": "https", "HTTP_X_FORWARDED_FOR": "203.0.113.9"}
    client = Client(enforce_csrf_checks=True, HTTP_HOST="testserver", **proxied)  # a proxy passes the Host on
    page = client.get("/login/")
    assert page.status_code == 200  # not redirected: the proxy says the client used HTTPS
    assert "Strict-Transport-Security" in page and client.cookies["csrftoken"]["secure"]
    response = client.post(
        "/login/",
        {"username": admin.email, "password": PASSWORD, "csrfmiddlewaretoken": client.cookies["csrftoken"].value},
        HTTP_ORIGIN="https://testserver",
    )
    assert response.status_code == 302 and response["Location"] == "/contacts/"
    assert client.cookies["sessionid"]["secure"]
    assert client.get("/contacts/").status_code == 200


def test_x_forwarded_proto_from_anyone_else_is_ignored(behind_a_proxy):
    forged = Client(REMOTE_ADDR="198.51.100.1", HTTP_X_FORWARDED_PROTO="https")
    response = forged.get("/login/")
    assert response.status_code == 301 and response["Location"].startswith("https://")


def test_csrf_trusted_origins_come_from_the_setting(admin, behind_a_proxy):
    behind_a_proxy.CSRF_TRUSTED_ORIGINS = ["https://crm.example.com"]
    client = Client(
        enforce_csrf_checks=True, HTTP_HOST="testserver", REMOTE_ADDR="10.0.0.7", HTTP_X_FORWARDED_PROTO="https"
    )
    client.get("/login/")
    form = {"username": admin.email, "password": PASSWORD, "csrfmiddlewaretoken": client.cookies["csrftoken"].value}
    assert client.post("/login/", form, HTTP_ORIGIN="https://evil.example").status_code == 403
    assert client.post("/login/", form, HTTP_ORIGIN="https://crm.example.com").status_code == 302


@pytest.mark.parametrize(
    "remote, forwarded, expected",
    [
        ("198.51.100.1", "203.0.113.9", "198.51.100.1"),  # not a proxy: its header is not believed
        ("10.0.0.7", "203.0.113.9", "203.0.113.9"),
        ("10.0.0.7", "1.1.1.1, 203.0.113.9, 10.0.0.3", "203.0.113.9"),  # right-most entry no proxy of ours wrote
        ("10.0.0.7", "", "10.0.0.7"),
        ("fd00::5", "2001:db8::1", "2001:db8::1"),
    ],
)
def test_client_address_believes_x_forwarded_for_only_from_trusted_proxies(rf, settings, remote, forwarded, expected):
    settings.KEEL_TRUSTED_PROXIES = ["10.0.0.0/8", "fd00::/8"]
    request = rf.get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_address(request) == expected


def test_trusted_proxies_setting_names_a_bad_entry():
    assert [str(n) for n in parse_networks("10.0.0.0/8, 127.0.0.1")] == ["10.0.0.0/8", "127.0.0.1/32"]
    with pytest.raises(ValueError, match="KEEL_TRUSTED_PROXIES: 'ten' is not an IP address or CIDR"):
        parse_networks("ten")


# --- secrets out of the access log ----------------------------------------------------------------------------------


@pytest.fixture
def dev_server(transactional_db):
    """Django's development server (what ``keel serve`` runs), in a thread, with its own access log."""
    server = WSGIServer(("127.0.0.1", 0), WSGIRequestHandler)
    server.set_app(get_wsgi_application())
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_tokens_in_paths_never_reach_the_access_log(dev_server, caplog):
    secret = "Zq9-status-token-that-is-a-credential"
    caplog.set_level(logging.INFO)
    for path in (
        f"/deletion-status/{secret}/",
        f"/api/v1/deletions/{secret}",
        f"/set-password/MTIz/{secret}/",
    ):
        try:
            urllib.request.urlopen(dev_server + path, timeout=10)
        except urllib.error.HTTPError:
            pass
    access = []
    for _ in range(100):  # the server writes its access line just after the answer
        access = [r.getMessage() for r in caplog.records if r.name == "django.server"]
        if len(access) == 3:
            break
        time.sleep(0.02)
    assert len(access) == 3, caplog.text
    assert "/deletion-status/[token]/" in access[0] and "/api/v1/deletions/[token]" in access[1]
    assert "/set-password/[uid]/[token]/" in access[2]
    assert secret not in caplog.text


# --- the deletion status link expires -------------------------------------------------------------------------------


@pytest.mark.parametrize("days_ago, shown", [(None, True), (30, True), (364, True), (366, False)])
def test_the_deletion_status_link_shows_the_receipt_for_a_year(db, client, days_ago, shown):
    token = "a-status-token-of-forty-characters-or-more-xyz"
    completed = None if days_ago is None else timezone.now() - timedelta(days=days_ago)
    DeletionReceipt.objects.create(
        company_id_deleted=1,
        status_token_hash=hash_status_token(token),
        state=DeletionReceipt.State.RUNNING if completed is None else DeletionReceipt.State.SUCCEEDED,
        completed_at=completed,
    )
    expected = 200 if shown else 404
    assert client.get(f"/deletion-status/{token}/").status_code == expected
    assert client.get(f"/api/v1/deletions/{token}").status_code == expected


# --- files at rest and the settings' environment variables -----------------------------------------------------------

STARTUP = """
import json, os, django
django.setup()
from django.conf import settings
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.mail import send_mail
from django.db import connection
connection.ensure_connection()
send_mail("Set your password", "a live link", "keel@example.test", ["someone@example.test"])
default_storage.save("companies/7/exports/archive.zip", ContentFile(b"PK"))
cache.set("some-key", "value")
print(json.dumps({
    "proxies": settings.KEEL_TRUSTED_PROXIES, "origins": settings.CSRF_TRUSTED_ORIGINS,
    "allow": settings.KEEL_OUTBOUND_ALLOWLIST, "redirect": settings.SECURE_SSL_REDIRECT,
    "hsts": settings.SECURE_HSTS_SECONDS,
}))
"""


def test_keel_creates_its_data_folder_and_files_for_its_own_user_only(tmp_path):
    data = tmp_path / "data"
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "KEEL_SECRET_KEY", "KEEL_FILES_DIR", "KEEL_STORAGE_BACKEND", "KEEL_EMAIL_HOST")
    }
    env.update(
        DJANGO_SETTINGS_MODULE="keel.settings",
        KEEL_DATA_DIR=str(data),
        KEEL_SECURE_COOKIES="true",
        KEEL_TRUSTED_PROXIES="10.0.0.0/8, 192.168.1.5",
        KEEL_CSRF_TRUSTED_ORIGINS="https://crm.example.com",
        KEEL_OUTBOUND_ALLOWLIST="provider.internal:8443, 127.0.0.1",
    )
    done = subprocess.run(
        [sys.executable, "-c", STARTUP], env=env, cwd=KEEL.parent, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {
        "proxies": ["10.0.0.0/8", "192.168.1.5"],
        "origins": ["https://crm.example.com"],
        "allow": ["provider.internal:8443", "127.0.0.1"],
        "redirect": True,
        "hsts": 365 * 24 * 3600,
    }
    modes = {str(p.relative_to(data)): stat.S_IMODE(p.stat().st_mode) for p in data.rglob("*")}
    modes["."] = stat.S_IMODE(data.stat().st_mode)
    assert modes["."] == 0o700
    for name in ("keel.sqlite3", "secret_key", "files/companies/7/exports/archive.zip"):
        assert modes[name] == 0o600, (name, oct(modes[name]))
    assert [name for name in modes if name.startswith("mail/")], modes  # the e-mail was written
    loose = {name: oct(mode) for name, mode in modes.items() if mode & 0o077}
    assert loose == {}  # nothing (database, e-mails, stored files, cache, folders) is open to others
