"""Fixtures shared by every app's tests: companies, users of each built-in role, and logged-in clients."""

import os

import pytest
from django.db import connection

from keel.testing import ApiClient, make_company, make_user


def pytest_collection_modifyitems(config, items):
    # PostgreSQL-only tests (real concurrency) are deselected on SQLite, not skipped: they do not count as passed.
    if connection.vendor != "postgresql":
        kept = [item for item in items if "postgres" not in item.keywords]
        deselected = [item for item in items if "postgres" in item.keywords]
        if deselected:
            config.hook.pytest_deselected(items=deselected)
            items[:] = kept


@pytest.fixture(autouse=True)
def _isolated_storage(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "files")},
        },
    }
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    os.makedirs(tmp_path / "files", exist_ok=True)


@pytest.fixture
def company(db):
    return make_company("Acme")


@pytest.fixture
def other_company(db):
    return make_company("Globex")


@pytest.fixture
def admin(company):
    return company.admin


@pytest.fixture
def manager(company):
    return make_user(company, "manager")


@pytest.fixture
def member(company):
    return make_user(company, "member")


@pytest.fixture
def admin_client(client, admin):
    client.force_login(admin)
    return client


@pytest.fixture
def api(admin):
    """JSON API client authenticated with the company administrator's bearer token."""
    return ApiClient(admin)


@pytest.fixture
def member_api(member):
    return ApiClient(member)


@pytest.fixture
def other_api(other_company):
    return ApiClient(other_company.admin)
