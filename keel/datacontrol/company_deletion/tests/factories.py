"""Inspection and start helpers shared by the company deletion tests (this module holds no tests; the data comes
from ``keel.testing.fill_every_tenant_table``)."""

import contextlib
import http.server
import re
import socket
import threading
import urllib.parse

from django.core.files.storage import default_storage
from django.db import connection

from keel.accounts.models import Company
from keel.contacts.models import Contact
from keel.datacontrol import graph
from keel.datacontrol.company_deletion.actions import do_request_company_deletion
from keel.testing import PASSWORD


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
