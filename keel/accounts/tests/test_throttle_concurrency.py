"""Throttles hold under concurrency: attempts are reserved atomically in the database before the secret is checked,
so N concurrent wrong guesses against a limit of L are exactly L checks and N - L refusals (SQLite and PostgreSQL)."""

import json
import threading
import urllib.error
import urllib.request

import pytest
from django.db import connection

from keel.accounts import reauth
from keel.accounts.login import ADDRESS_THROTTLE, InvalidCredentials, check_credentials
from keel.accounts.models import AttemptCount
from keel.accounts.throttle import FailureThrottle
from keel.errors import RateLimited
from keel.testing import PASSWORD, ApiClient, make_company

pytestmark = pytest.mark.django_db(transaction=True)


def run_at_once(count, attempt):
    """Runs ``attempt()`` in ``count`` threads released together; the outcomes (return value or error code)."""
    barrier = threading.Barrier(count)
    outcomes = []

    def run():
        try:
            barrier.wait()
            outcomes.append(attempt())
        except (InvalidCredentials, RateLimited) as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(map(str, outcomes))


def test_concurrent_reservations_are_counted_exactly(settings):
    settings.KEEL_LOGIN_ATTEMPTS = 5
    throttle = FailureThrottle("concurrency-test", "KEEL_LOGIN_ATTEMPTS", "KEEL_LOGIN_WINDOW_SECONDS")
    outcomes = run_at_once(20, lambda: throttle.reserve("subject") or "reserved")
    assert outcomes.count("reserved") == 5 and outcomes.count("rate_limited") == 15
    assert AttemptCount.objects.get(scope="concurrency-test").count == 5


def test_concurrent_wrong_logins_are_counted_exactly(settings):
    settings.KEEL_LOGIN_ATTEMPTS = 5
    admin = make_company("Race").admin
    outcomes = run_at_once(20, lambda: check_credentials(admin.email, "wrong password", "192.0.2.7"))
    assert outcomes.count("invalid_credentials") == 5 and outcomes.count("rate_limited") == 15
    address_row = AttemptCount.objects.get(scope=ADDRESS_THROTTLE.name, subject=ADDRESS_THROTTLE.digest("ip:192.0.2.7"))
    assert address_row.count == 5


def test_concurrent_wrong_reauthentications_are_counted_exactly(settings):
    settings.KEEL_REAUTH_ATTEMPTS = 5
    admin = make_company("Race").admin
    outcomes = run_at_once(12, lambda: reauth.password_confirmed(admin, "wrong password"))
    assert outcomes.count("False") == 5 and outcomes.count("rate_limited") == 7
    assert reauth.wait_seconds(admin) > 0


def test_concurrent_wrong_reauthentications_on_company_deletion_are_counted_exactly(settings):
    settings.KEEL_REAUTH_ATTEMPTS = 5
    company = make_company("Race")
    token = ApiClient(company.admin)

    def confirm():
        response = token.post("company/delete", {"company_name": company.name, "password": "wrong password"})
        return response.json()["error"]["code"]

    outcomes = run_at_once(12, confirm)
    assert outcomes.count("reauthentication_failed") == 5 and outcomes.count("rate_limited") == 7
    assert token.post("company/delete", {"company_name": company.name, "password": PASSWORD}).status_code == 429


def test_concurrent_wrong_logins_against_a_live_server_are_counted_exactly(live_server, settings):
    settings.KEEL_LOGIN_ATTEMPTS = 5
    admin = make_company("Race").admin
    body = json.dumps({"email": admin.email, "password": "wrong password"}).encode()

    def post():
        request = urllib.request.Request(
            f"{live_server.url}/api/v1/auth/token", body, {"Content-Type": "application/json"}
        )
        try:
            urllib.request.urlopen(request, timeout=30)
        except urllib.error.HTTPError as exc:
            return exc.code
        return 201

    outcomes = run_at_once(20, post)
    assert outcomes.count("401") == 5 and outcomes.count("429") == 15
