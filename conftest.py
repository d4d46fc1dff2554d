"""Fixtures shared by every app's tests: companies, users of each built-in role, and logged-in clients."""

import os

import pytest
from django.db import connection

from keel.testing import ApiClient, make_company, make_user


def pytest_configure(config):
    # A plain `pytest` is as fast as scripts/test: the suite hashes passwords with a fast hasher, and so do the worker
    # processes it starts (they read KEEL_FAST_PASSWORD_HASHER from the environment they inherit).
    from django.conf import settings

    config.addinivalue_line("markers", "storage: touches stored files; runs on a local folder and on an S3 server")
    os.environ["KEEL_FAST_PASSWORD_HASHER"] = "1"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def pytest_collection_modifyitems(config, items):
    for item in items:  # `-m storage` selects every storage-touching test
        if item.module.__name__ in STORAGE_TEST_MODULES:
            item.add_marker(pytest.mark.storage)
    # PostgreSQL-only tests (real concurrency) are deselected on SQLite, not skipped: they do not count as passed.
    if connection.vendor != "postgresql":
        kept = [item for item in items if "postgres" not in item.keywords]
        deselected = [item for item in items if "postgres" in item.keywords]
        if deselected:
            config.hook.pytest_deselected(items=deselected)
            items[:] = kept


# Tests marked ``storage`` touch stored files; they run twice: on a local folder and on a real S3-protocol server
# started on loopback (docs/deployment.md, "Stored files"). Every other test runs on a local folder only.
STORAGE_BACKENDS = ("local", "s3")
# The storage-touching tests: attachments, import, export download, CRM and company deletion's file erasure and
# verification, and keel.storage itself. A test elsewhere joins them with @pytest.mark.storage.
STORAGE_TEST_MODULES = {
    "keel.tests.test_storage",
    "keel.contacts.tests.test_uploads",
    "keel.contacts.imports.tests.test_import",
    "keel.contacts.imports.tests.test_import_resume",
    "keel.contacts.imports.tests.test_import_worker",
    "keel.datacontrol.tests.test_eraser",
    "keel.datacontrol.export.tests.test_export_api",
    "keel.datacontrol.export.tests.test_export_worker",
    "keel.datacontrol.crm_deletion.tests.test_crm_deletion_job",
    "keel.datacontrol.crm_deletion.tests.test_crm_deletion_worker",
    "keel.datacontrol.company_deletion.tests.test_company_deletion_job",
    "keel.datacontrol.company_deletion.tests.test_company_deletion_worker",
}


# Storage tests that run on a local folder only, each with its reason.
LOCAL_STORAGE_ONLY = {
    "test_the_sweeper_deletes_uploads_never_started_and_old_reports_only": "ages files by setting their time on disk",
}


def touches_storage(definition, module):
    return module.__name__ in STORAGE_TEST_MODULES or definition.get_closest_marker("storage") is not None


def pytest_generate_tests(metafunc):
    if "storage_backend" in metafunc.fixturenames and touches_storage(metafunc.definition, metafunc.module):
        local_only = metafunc.definition.originalname in LOCAL_STORAGE_ONLY
        metafunc.parametrize("storage_backend", ("local",) if local_only else STORAGE_BACKENDS, indirect=True)


@pytest.fixture
def storage_backend(request):
    """``"local"`` or ``"s3"``: where this test's files are stored."""
    return getattr(request, "param", "local")


@pytest.fixture(scope="session")
def s3_server():
    """An S3-protocol server (moto's server mode) on 127.0.0.1, started once for the session when a test needs it."""
    from keel.testing_s3 import S3TestServer

    server = S3TestServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _isolated_storage(settings, tmp_path, storage_backend, request, monkeypatch):
    if storage_backend == "s3":
        server = request.getfixturevalue("s3_server")
        # In the environment too, so that the worker processes a test starts store in the same bucket.
        for name, value in server.environment(server.new_bucket()).items():
            monkeypatch.setenv(name, value)
        settings.STORAGES = {**settings.STORAGES, "default": server.storage_setting(os.environ)}
    else:
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


@pytest.fixture(autouse=True)
def _email_delivered_at_once(monkeypatch):
    """Most tests check what a feature e-mails, not how it travels: the queued e-mail is delivered as soon as it is
    queued (through the same ``deliver`` the background task runs) instead of by a worker after the commit. The
    tests of keel/mail undo this with the ``email_in_background`` fixture."""
    from keel.mail import outbox

    monkeypatch.setattr(outbox, "dispatch", outbox.deliver)


@pytest.fixture
def email_in_background(monkeypatch):
    from keel.mail import outbox

    monkeypatch.setattr(outbox, "dispatch", outbox.enqueue_after_commit)


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


@pytest.fixture
def worker(transactional_db, settings):
    """A real worker process (``keel worker``) on the test database; jobs run there, not in the test process."""
    from keel.testing import start_worker, stop_process

    process = start_worker({"KEEL_FILES_DIR": settings.STORAGES["default"]["OPTIONS"].get("location", "")})
    yield process
    stop_process(process)


@pytest.fixture(scope="session")
def _chromium():
    import shutil

    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; Django's ORM calls in the test are still sync.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    executable = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(executable):
        pytest.fail("Browser tests need Debian's chromium: apt-get install chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(_chromium, live_server):
    """A fresh browser page; ``page.base_url`` is the live server's address."""
    context = _chromium.new_context(base_url=live_server.url)
    context.set_default_timeout(15000)
    page = context.new_page()
    page.base_url = live_server.url
    yield page
    context.close()
