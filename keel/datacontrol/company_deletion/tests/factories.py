"""Data, inspection and start helpers shared by the company deletion tests (this module holds no tests)."""

import contextlib
import http.server
import re
import socket
import threading
import urllib.parse
from datetime import timedelta

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.utils import timezone

from keel.accounts.models import ApiToken, Company, Notice, User, UserSession
from keel.audit.actions import record
from keel.contacts.models import Attachment, Contact, ContactEvent, ContactList, ContactTag, ListMembership, Note, Tag
from keel.datacontrol import graph
from keel.datacontrol.company_deletion.actions import do_request_company_deletion
from keel.datacontrol.models import ExportArchive
from keel.integrations import crypto
from keel.integrations.models import IntegrationConnection
from keel.jobs.models import DataJob
from keel.marketing.models import Campaign, CampaignRecipient, Workflow, WorkflowEnrollment
from keel.testing import PASSWORD, make_user

PERSONAL_NAME = "Ada Lovelace"


def make_company_data(company, contacts=4, revoke_url=""):
    """The same data for any company, in every kind of table: users, tokens, notices, CRM with history and
    attachments, campaigns, workflows, an integration, audit events, a finished export with its archive."""
    admin = User.objects.filter(company=company, role__kind="admin").order_by("id").first()
    member = make_user(company, "member", name=PERSONAL_NAME)
    ApiToken.issue(member, "reports")
    Notice.objects.create(company=company, user=member, message="Welcome")
    UserSession.objects.create(company=company, user=member, session_key=f"session-of-{member.pk}")
    tag = Tag.objects.create(company=company, name="vip")
    contact_list = ContactList.objects.create(company=company, name="Newsletter")
    campaign = Campaign.objects.create(company=company, name="Spring", status=Campaign.Status.SENT, created_by=admin)
    workflow = Workflow.objects.create(company=company, name="Welcome", created_by=admin)
    for i in range(contacts):
        contact = Contact.objects.create(
            company=company, email=f"person{i}@example.com", first_name="Grace", last_name=f"Hopper{i}"
        )
        ContactEvent.objects.bulk_create(
            ContactEvent(company=company, contact=contact, kind="email_opened", title=f"Opened {j}") for j in range(3)
        )
        Note.objects.create(company=company, contact=contact, author=member, body=f"note {i}")
        ContactTag.objects.create(company=company, contact=contact, tag=tag)
        ListMembership.objects.create(company=company, contact=contact, contact_list=contact_list)
        CampaignRecipient.objects.create(company=company, contact=contact, campaign=campaign)
        WorkflowEnrollment.objects.create(company=company, contact=contact, workflow=workflow)
        if i % 2 == 0:
            attachment = Attachment(company=company, contact=contact, filename=f"cv{i}.txt", uploaded_by=member)
            attachment.file.save(f"cv{i}.txt", ContentFile(f"curriculum {i}".encode()), save=True)
    IntegrationConnection.objects.create(
        company=company,
        provider="mailer",
        encrypted_access_token=crypto.encrypt(f"secret-token-{company.pk}"),
        revoke_url=revoke_url,
        connected_by=admin,
    )
    export_job = DataJob.objects.create(
        company=company,
        kind=DataJob.Kind.EXPORT,
        state=DataJob.State.SUCCEEDED,
        requested_by=admin,
        finished_at=timezone.now(),
    )
    archive_name = f"companies/{company.pk}/exports/export-{export_job.pk}.zip"
    default_storage.save(archive_name, ContentFile(b"PK archive bytes"))
    ExportArchive.objects.create(
        company=company,
        job=export_job,
        requested_by=admin,
        status=ExportArchive.Status.READY,
        file_path=archive_name,
        size=16,
        finished_at=timezone.now(),
        expires_at=timezone.now() + timedelta(days=7),
    )
    record(company, admin, "test.data_created")
    return member


def dump_company(company_id):
    """Every row of the company in every tenant table, the company row, and its stored files with contents."""
    rows = {}
    with connection.cursor() as cursor:
        for model in graph.tenant_models():
            table = connection.ops.quote_name(model._meta.db_table)
            column = connection.ops.quote_name(model._meta.get_field("company").column)
            cursor.execute(f"SELECT * FROM {table} WHERE {column} = %s ORDER BY id", [company_id])  # noqa: S608
            rows[graph.label(model)] = cursor.fetchall()
    rows["accounts.Company"] = list(Company.objects.filter(pk=company_id).values())
    return rows, stored_files(company_id)


def stored_files(company_id):
    """Every file under the company's storage prefix, by name, with its content, found by walking the folder."""
    found = {}

    def walk(directory):
        try:
            dirs, files = default_storage.listdir(directory)
        except FileNotFoundError:
            return
        for name in files:
            path = f"{directory}/{name}"
            with default_storage.open(path) as handle:
                found[path] = handle.read()
        for sub in dirs:
            walk(f"{directory}/{sub}")

    walk(f"companies/{company_id}")
    return found


def rows_of_company(company_id):
    """Tables still holding any row of the company: a scan of every tenant table."""
    rows, _files = dump_company(company_id)
    return {table: len(found) for table, found in rows.items() if found}


class RevokeHookServer:
    """A real HTTP server on 127.0.0.1 standing in for a provider's revoke endpoint. Records each call, and what
    the company still held in the database at that moment (to prove the hook comes before any deletion)."""

    def __init__(self, company_id):
        self.calls = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the name http.server calls
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                contacts = Contact.objects.filter(company_id=company_id).count()
                connection.close()
                server.calls.append({"path": self.path, "form": urllib.parse.parse_qs(body), "contacts": contacts})
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/revoke"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@contextlib.contextmanager
def refusing_mail_server(settings):
    """E-mail through real SMTP to a local port where nothing listens: every send fails with a refused connection.
    Yields a function that makes e-mail work again (the tests' outbox) before the block ends."""
    with socket.socket() as bound_not_listening:
        bound_not_listening.bind(("127.0.0.1", 0))
        port = bound_not_listening.getsockname()[1]
        working = settings.MAILERS

        def work_again():
            settings.MAILERS = working

        settings.MAILERS = {
            "default": {
                "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                "OPTIONS": {"host": "127.0.0.1", "port": port, "timeout": 5},
            }
        }
        try:
            yield work_again
        finally:
            work_again()


@contextlib.contextmanager
def failing_final_step(monkeypatch):
    """Every attempt's final transaction fails (as when the database refuses it) until the yielded function makes
    it work again: the deletion is interrupted at its very end and must be retried."""
    from django.db import DatabaseError

    from keel.datacontrol.company_deletion import job as deletion_job

    working = deletion_job.forget_company_emails
    state = {"failing": True}

    def forget_or_fail(company_id):
        if state["failing"]:
            raise DatabaseError("the final transaction was refused")
        return working(company_id)

    def work_again():
        state["failing"] = False

    monkeypatch.setattr(deletion_job, "forget_company_emails", forget_or_fail)
    try:
        yield work_again
    finally:
        work_again()


def start_deletion(company, admin):
    """A deletion the administrator confirmed with the company's name and their password."""
    return do_request_company_deletion(company, company.name, PASSWORD, actor=admin)


def confirm(company, password=PASSWORD, **extra):
    return {"company_name": company.name, "password": password, **extra}


def token_of(status_url):
    return re.search(r"/deletion-status/([^/]+)/$", status_url).group(1)
