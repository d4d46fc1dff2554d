"""Test helpers shared by every app: build companies and users, call the API, run queued jobs inline."""

import itertools
import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client
from django.utils import timezone

from keel.accounts import permissions
from keel.accounts.actions import do_create_api_token, do_create_company
from keel.accounts.models import ApiToken, Notice, Role, User, UserSession
from keel.audit.actions import record
from keel.contacts.models import Attachment, Contact, ContactEvent, ContactList, ContactTag, ListMembership, Note, Tag
from keel.datacontrol import graph
from keel.datacontrol.models import BackupSchedule, EncryptionMode, ExportArchive
from keel.integrations import crypto
from keel.integrations.models import IntegrationConnection
from keel.jobs.models import DataJob
from keel.marketing.models import Campaign, CampaignRecipient, Workflow, WorkflowEnrollment

PASSWORD = "correct horse battery"
_counter = itertools.count(1)


def make_company(name, plan="standard"):
    """A company with built-in roles and its Company Administrator, reachable as ``company.admin``."""
    ensure_plans()
    slug = name.lower().replace(" ", "")
    company, admin = do_create_company(f"{name}", f"admin{next(_counter)}@{slug}.test", PASSWORD, plan=plan)
    company.admin = admin
    return company


def make_user(company, role_kind="member", email=None, **fields):
    role = Role.objects.get(company=company, kind=role_kind)
    email = email or f"{role_kind}{next(_counter)}@{company.slug}.test"
    return User.objects.create_user(email, PASSWORD, company=company, role=role, **fields)


def grant(company, permission, role_kind=permissions.ADMIN):
    role = Role.objects.get(company=company, kind=role_kind)
    role.permissions = sorted(set(role.permissions) | {permission})
    role.save()
    return role


class ApiClient:
    """Calls /api/v1 with a bearer token, sending and decoding JSON."""

    def __init__(self, user):
        self.user = user
        _, self.token = do_create_api_token(user, "tests")
        self.client = Client()

    def _call(self, method, path, data=None, **extra):
        url = path if path.startswith("/") else f"/api/v1/{path}"
        headers = {"HTTP_AUTHORIZATION": f"Bearer {self.token}", **extra}
        if method == "get":
            return self.client.get(url, data or {}, **headers)
        body = json.dumps(data) if data is not None else ""
        return getattr(self.client, method)(url, body, content_type="application/json", **headers)

    def get(self, path, data=None, **extra):
        return self._call("get", path, data, **extra)

    def post(self, path, data=None, **extra):
        return self._call("post", path, data, **extra)

    def patch(self, path, data=None, **extra):
        return self._call("patch", path, data, **extra)

    def put(self, path, data=None, **extra):
        return self._call("put", path, data, **extra)

    def delete(self, path, **extra):
        return self._call("delete", path, **extra)

    def upload(self, path, files, data=None):
        url = path if path.startswith("/") else f"/api/v1/{path}"
        return self.client.post(url, {**(data or {}), **files}, HTTP_AUTHORIZATION=f"Bearer {self.token}")


def run_queued_jobs():
    """Run every queued job inline, in order, exactly as the worker's task would. Returns the jobs run."""
    from keel.jobs.models import DataJob
    from keel.jobs.runner import run_job

    finished = []
    while True:
        job = DataJob.objects.filter(state=DataJob.State.QUEUED).order_by("id").first()
        if job is None:
            return finished
        finished.append(run_job(job.pk))


def ensure_plans():
    """Plans come from a data migration; tests that flush tables (live server, transactional) restore them."""
    from keel.accounts.models import Plan

    for code, name, allows_export, per_day in (
        ("free", "Free", False, 0),
        ("standard", "Standard", True, 5),
        ("enterprise", "Enterprise", True, 20),
    ):
        Plan.objects.get_or_create(
            code=code, defaults={"name": name, "allows_export": allows_export, "exports_per_day": per_day}
        )


def test_database_url():
    """A DATABASE_URL naming the database the tests run on, for processes the tests start (the worker)."""
    from django.db import connection

    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def start_worker(extra_env=None):
    """A real ``keel worker`` process on the test database."""
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "KEEL_JOB_HEARTBEAT_SECONDS": "0.5",
        **(extra_env or {}),
    }
    return subprocess.Popen([sys.executable, "-m", "keel.cli", "worker", "--interval", "0.2"], env=env)


def stop_process(process):
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except Exception:
            process.kill()
            process.wait()


def wait_for(condition, timeout=60, interval=0.05, what="the condition"):
    """Poll ``condition()`` until it is true (a worker process does the work meanwhile); fail after ``timeout``."""
    import time

    from django.db import connection

    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        if not connection.in_atomic_block:
            connection.close()  # see the worker's newest commits on the next query
        time.sleep(interval)


# Values CSV writers, encodings and spreadsheets like to break on; every text column of the tenant data gets them.
TRICKY_TEXTS = [
    'Say "hello", then leave',
    "line one\nline two\r\nline three",
    "Ελληνικά, 中文, العربية, русский",
    "emoji 🚀🎉 and ZWJ 👩‍👩‍👧",
    "",
    "=1+1 stays text",
    "  leading and trailing spaces  ",
]
INTEGRATION_PLAINTEXT = "plaintext-provider-token-0123456789"
# The backup schedule's secrets in plain text: they must never leave Keel either.
BACKUP_SECRET_ACCESS_KEY = "backup-secret-access-key-9876543210"
BACKUP_PASSPHRASE = "backup passphrase never exported"


def fill_every_tenant_table(company, contacts=7, revoke_url=""):
    """Rows for the company in every tenant table, full of tricky values, with attachments and an export archive.

    The one factory behind the export, deletion and restore tests: ``keel/tests/test_tenant_data.py`` fails when a
    tenant model (``graph.tenant_models()``) is left empty by it, so a new model is covered here before those tests
    can pass. Every even-numbered contact has an attachment, so the company holds ``(contacts + 1) // 2``
    attachment files and one export archive. The integration has no revoke URL unless one is given: deleting the
    company calls it. Returns a namespace with the users, contacts and secrets made, for the tests to look for.
    """

    admin = company.admin if hasattr(company, "admin") else company.users.filter(role__kind="admin").first()
    member = make_user(company, "member", name='Zoë "Z" O\'Brien, Jr.')
    _, raw_token = ApiToken.issue(admin, 'CI token, "main"')
    Notice.objects.create(company=company, user=admin, message="Export ready ✅", link="/settings/data/export/")
    UserSession.objects.create(
        company=company, user=member, session_key=f"key-{member.pk}", user_agent="Firefox 🦊", ip_address="192.0.2.1"
    )
    made = _fill_crm(company, admin, member, contacts)
    IntegrationConnection.objects.create(
        company=company,
        provider="Mailer, Inc.",
        encrypted_access_token=crypto.encrypt(INTEGRATION_PLAINTEXT),
        revoke_url=revoke_url,
        connected_by=admin,
    )
    _fill_finished_export(company, admin)
    BackupSchedule.objects.create(
        company=company,
        encryption_mode=EncryptionMode.PASSPHRASE,
        encrypted_passphrase=crypto.encrypt(BACKUP_PASSPHRASE),
        destination_kind=BackupSchedule.Destination.S3,
        endpoint_url="https://s3.example.com",
        bucket="backups-bucket",
        access_key_id="AKIAEXAMPLE",
        encrypted_secret_access_key=crypto.encrypt(BACKUP_SECRET_ACCESS_KEY),
        updated_by=admin,
    )
    record(company, admin, "contact.updated", made["contacts"][0], fields=["first_name"], text='日本語 "q"')
    return SimpleNamespace(admin=admin, member=member, raw_token=raw_token, **made)


def _fill_crm(company, admin, member, count):
    """Contacts with history, notes, tags, lists, attachments, campaign recipients and workflow enrollments.

    Long because it is one list of rows, a few per tenant table: splitting it would only scatter that list."""

    when = datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)
    tag = Tag.objects.create(company=company, name='VIP, "gold"')
    contact_list = ContactList.objects.create(company=company, name="Newsletter 📰", description="")
    campaign = Campaign.objects.create(
        company=company,
        name='Spring, "big" sale',
        subject="Ünïcödé",
        body="Hi\n\nBye",
        created_by=admin,
        status=Campaign.Status.SENT,
    )
    workflow = Workflow.objects.create(company=company, name="Welcome 👋", trigger="list:newsletter", created_by=admin)
    contacts = []
    for i in range(count):
        text = TRICKY_TEXTS[i % len(TRICKY_TEXTS)]
        contact = Contact.objects.create(
            company=company,
            email=f"person{i}@example.com" if text else "",
            first_name=text,
            last_name=text[::-1],
            phone="+49 (0) 30, ext. 7" if i % 2 else "",
            company_name=text,
            lifecycle_stage=Contact.Stage.LEAD if i % 2 else Contact.Stage.CUSTOMER,
            custom_fields={"note": text, "nested": {"list": [1, 2.5, None, True], "emoji": "🚀"}} if i else {},
            created_at=when + timedelta(days=i),
            updated_at=when + timedelta(days=i, seconds=1),
        )
        contacts.append(contact)
        ContactEvent.objects.bulk_create(
            ContactEvent(
                company=company,
                contact=contact,
                kind="email_opened" if k else "imported",
                title=f"{text} #{k}",
                data={"text": text, "k": k},
                occurred_at=when + timedelta(hours=k),
            )
            for k in range(2)
        )
        Note.objects.create(company=company, contact=contact, author=member if i % 2 else None, body=f'"{text}" 📝')
        ContactTag.objects.create(company=company, contact=contact, tag=tag)
        ListMembership.objects.create(company=company, contact_list=contact_list, contact=contact)
        CampaignRecipient.objects.create(
            company=company,
            campaign=campaign,
            contact=contact,
            status="sent",
            sent_at=when,
            opened_at=when + timedelta(minutes=5) if i % 2 else None,
        )
        WorkflowEnrollment.objects.create(company=company, workflow=workflow, contact=contact)
        if i % 2 == 0:
            attachment = Attachment(
                company=company,
                contact=contact,
                filename=f'contract {i}, final "v2".pdf',
                content_type="application/pdf",
                uploaded_by=admin,
            )
            content = b"%PDF-1.4 binary \x00\xff\xfe bytes " + str(i).encode()
            attachment.size = len(content)
            attachment.file.save(f"contract{i}.pdf", ContentFile(content), save=True)
    return {"contacts": contacts, "tag": tag, "contact_list": contact_list, "campaign": campaign, "workflow": workflow}


def _fill_finished_export(company, admin):
    """A finished export job with its archive file in the company's storage folder."""

    job = DataJob.objects.create(
        company=company,
        kind=DataJob.Kind.EXPORT,
        state=DataJob.State.SUCCEEDED,
        requested_by=admin,
        finished_at=timezone.now(),
    )
    name = default_storage.save(f"companies/{company.pk}/exports/export-{job.pk}.zip", ContentFile(b"PK archive"))
    ExportArchive.objects.create(
        company=company,
        job=job,
        requested_by=admin,
        status=ExportArchive.Status.READY,
        file_path=name,
        size=10,
        finished_at=timezone.now(),
        expires_at=timezone.now() + timedelta(days=7),
    )
    return job


def empty_tenant_tables(company):
    """Labels of the tenant models holding no row of the company (``[]`` after ``fill_every_tenant_table``)."""

    return [graph.label(m) for m in graph.tenant_models() if not m.objects.filter(company=company).exists()]


def assert_error(response, status, code=None):
    """``{"error": {"code", "message"}}`` with the status (and code) promised; returns the error object."""
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert isinstance(error["code"], str) and error["code"] == error["code"].lower()
    assert isinstance(error["message"], str) and error["message"].strip()
    if code is not None:
        assert error["code"] == code, error
    return error
