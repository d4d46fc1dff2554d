"""The archive writer: what is exported (derived from the tenant graph), the archive round-trips, secrets never
leave, every file comes from one snapshot, and memory does not grow with the company."""

import csv
import hashlib
import io
import json
import threading
import tracemalloc
import zipfile
from datetime import datetime

import pytest
from django.db import connection, models
from django.test.utils import isolate_apps

from keel.accounts.models import ApiToken, Company, User
from keel.contacts.models import (
    Attachment,
    Contact,
    ContactEvent,
)
from keel.datacontrol import graph
from keel.datacontrol.export import archive as archive_writer
from keel.datacontrol.export import scopes
from keel.datacontrol.export.tests.factories import read_csv
from keel.integrations.models import IntegrationConnection
from keel.jobs.progress import NoProgress
from keel.marketing.models import Campaign
from keel.spreadsheets import unescape
from keel.testing import (
    BACKUP_PASSPHRASE,
    BACKUP_SECRET_ACCESS_KEY,
    INTEGRATION_PLAINTEXT,
    TRICKY_TEXTS,
    fill_every_tenant_table,
)


def export_bytes(company, scope=None, **kwargs):
    buffer = io.BytesIO()
    written = archive_writer.write_archive(company, scope, buffer, **kwargs)
    return buffer.getvalue(), written


def parse_cell(value, column):
    """A CSV cell back to a Python value, by the column type the manifest declares."""
    if value == "" and column["nullable"]:
        return None
    kind = column["type"]
    if kind == "integer":
        return int(value)
    if kind == "boolean":
        return {"true": True, "false": False}[value]
    if kind == "datetime":
        return datetime.fromisoformat(value)
    if kind == "json":
        return json.loads(value)
    if kind == "string":
        return unescape(value)  # the manifest's csv_formula_escape rule
    return value


def model_for_entity(entity):
    if entity == "company":
        return Company
    return next(m for m in graph.tenant_models() if graph.entity_name(m) == entity)


# --- what is exported --------------------------------------------------------------------------------------------


def test_every_tenant_model_is_exported_in_a_scope_or_excluded_with_a_reason():
    placed = scopes.scope_of_models()
    assert set(placed) == set(graph.tenant_models())
    assert scopes.unplaced_models() == []
    for model, scope in placed.items():
        label = graph.label(model)
        if scope is None:
            assert scopes.NOT_EXPORTED.get(label), f"{label} is neither exported nor excluded with a reason"
        else:
            assert scope in scopes.SCOPES
            assert label not in scopes.NOT_EXPORTED
    assert set(scopes.NOT_EXPORTED) == {"jobs.DataJob", "datacontrol.ExportArchive", "datacontrol.BackupSchedule"}
    entities = [graph.entity_name(m) for m in placed]
    assert len(entities) == len(set(entities)), "two models would write the same file"


def test_scopes_hold_what_the_issue_names():
    by_scope = {scope: {graph.label(m) for m in scopes.models_for_scope([scope])} for scope in scopes.SCOPES}
    assert by_scope["contacts"] >= {
        "contacts.Contact",
        "contacts.ContactEvent",
        "contacts.Note",
        "contacts.Tag",
        "contacts.ContactTag",
        "contacts.ContactList",
        "contacts.ListMembership",
        "contacts.Attachment",
        "marketing.CampaignRecipient",
        "marketing.WorkflowEnrollment",
    }
    assert {graph.label(m) for m in graph.crm_models()} <= by_scope["contacts"]
    assert by_scope["campaigns"] == {"marketing.Campaign"}
    assert by_scope["workflows"] == {"marketing.Workflow"}
    assert by_scope["users"] == {
        "accounts.User",
        "accounts.Role",
        "accounts.ApiToken",
        "accounts.Notice",
        "accounts.UserSession",
    }
    assert by_scope["integrations"] == {"integrations.IntegrationConnection"}
    assert by_scope["audit_log"] == {"audit.AuditEvent"}


def test_secret_columns_are_never_columns():
    for model in graph.tenant_models():
        names = {c.name for c in scopes.columns(model)} | {c.field.name for c in scopes.columns(model)}
        assert not names & graph.secret_columns(model), graph.label(model)
    user_columns = {c.name for c in scopes.columns(User)}
    assert "password" not in user_columns and "email" in user_columns
    assert "token_hash" not in {c.name for c in scopes.columns(ApiToken)}
    assert "encrypted_access_token" not in {c.name for c in scopes.columns(IntegrationConnection)}


@isolate_apps("keel.contacts", "keel.marketing")
def test_a_new_tenant_model_is_picked_up_from_the_graph(monkeypatch):
    class Deal(models.Model):  # noqa: DJ008
        company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+")
        contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
        amount = models.DecimalField(max_digits=12, decimal_places=2)
        api_secret = models.CharField(max_length=40)
        secret_fields = ("api_secret",)

        class Meta:
            app_label = "contacts"

    class CampaignVariant(models.Model):  # noqa: DJ008
        company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+")
        campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="+")
        subject = models.CharField(max_length=100)

        class Meta:
            app_label = "marketing"

    class Loose(models.Model):  # noqa: DJ008
        company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+")

        class Meta:
            app_label = "marketing"

    real = graph.tenant_models()
    monkeypatch.setattr(graph, "tenant_models", lambda: (*real, Deal, CampaignVariant, Loose))
    assert Deal in scopes.models_for_scope(["contacts"])
    assert CampaignVariant in scopes.models_for_scope(["campaigns"])
    assert [c.name for c in scopes.columns(Deal)] == ["id", "contact_id", "amount"]
    assert graph.entity_name(Deal) == "deals"
    # A model no rule can place is reported, so a test like the first one fails until someone decides.
    assert scopes.unplaced_models() == ["marketing.Loose"]


def test_unknown_scope_is_refused_by_name():
    with pytest.raises(ValueError) as error:
        scopes.normalize_scope(["contacts", "deals"])
    assert error.value.args[0] == ["deals"]
    assert scopes.normalize_scope(["audit_log", "contacts", "contacts"]) == ["contacts", "audit_log"]
    assert scopes.normalize_scope(None) == list(scopes.SCOPES)


# --- the archive -------------------------------------------------------------------------------------------------


def test_archive_round_trips_row_by_row(transactional_db, company, other_company):
    made = fill_every_tenant_table(company)
    fill_every_tenant_table(other_company)
    data, written = export_bytes(company, batch_size=3)
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.testzip() is None
    assert written.sha256 == hashlib.sha256(data).hexdigest() and written.size == len(data)

    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["format"] == "keel-export" and manifest["format_version"] == 1
    assert manifest["company"] == {"id": company.pk, "name": company.name, "slug": company.slug}
    assert manifest["scope"] == list(scopes.SCOPES)
    assert datetime.fromisoformat(manifest["created_at"]).tzinfo is not None
    assert "README.txt" in archive.namelist()

    csv_paths = {entry["path"] for entry in manifest["files"] if entry["entity"] != "attachment_files"}
    expected = {"company.csv"} | {
        f"{graph.entity_name(m)}.csv" for m, scope in scopes.scope_of_models().items() if scope
    }
    assert csv_paths == expected
    assert {"contacts.csv", "contact_events.csv", "notes.csv", "campaign_recipients.csv", "users.csv"} <= csv_paths

    for entry in manifest["files"]:
        body = archive.read(entry["path"])
        assert hashlib.sha256(body).hexdigest() == entry["sha256"], entry["path"]
        rows = read_csv(archive, entry["path"])
        assert len(rows) == entry["rows"], entry["path"]
        if entry["entity"] == "attachment_files":
            continue
        model = model_for_entity(entry["entity"])
        columns = entry["columns"]
        assert [c["name"] for c in columns] == next(csv.reader(io.StringIO(body.decode("utf-8"))))
        names = [c["name"] for c in columns]
        owner = {"pk": company.pk} if model is Company else {"company": company}
        expected_rows = list(model.objects.filter(**owner).order_by("pk").values_list(*names))
        assert len(rows) == len(expected_rows) > 0, entry["path"]
        for row, db_row in zip(rows, expected_rows, strict=True):
            for column, db_value in zip(columns, db_row, strict=True):
                value = parse_cell(row[column["name"]], column)
                if column["type"] == "file":
                    db_value = scopes.attachment_archive_path(entry["entity"], db_row[0], db_value)
                assert value == db_value, (entry["path"], column["name"], row[column["name"]], db_value)

    contacts = read_csv(archive, "contacts.csv")
    assert [unescape(c["first_name"]) for c in contacts] == TRICKY_TEXTS
    assert {c["id"] for c in contacts} == {str(c.pk) for c in made.contacts}

    attachments = Attachment.objects.filter(company=company).order_by("pk")
    index = read_csv(archive, "attachments/index.csv")
    assert [row["row_id"] for row in index] == [str(a.pk) for a in attachments] and len(index) == 4
    listed = read_csv(archive, "attachments.csv")
    for attachment, entry, row in zip(attachments, index, listed, strict=True):
        assert entry["status"] == "stored"
        stored = archive.read(entry["path"])
        with attachment.file.open("rb") as original:
            assert stored == original.read()
        assert entry["sha256"] == hashlib.sha256(stored).hexdigest()
        assert row["file"] == entry["path"]


def test_no_secret_appears_anywhere_in_the_archive(transactional_db, company):
    revoke_url = "https://provider.example/oauth/revoke?client=keel-7f3a"
    made = fill_every_tenant_table(company, revoke_url=revoke_url)
    data, _ = export_bytes(company)
    archive = zipfile.ZipFile(io.BytesIO(data))
    everything = [data] + [archive.read(name) for name in archive.namelist()]
    secrets = [made.raw_token, INTEGRATION_PLAINTEXT, revoke_url, BACKUP_PASSPHRASE, BACKUP_SECRET_ACCESS_KEY]
    secrets += [u.password for u in User.objects.filter(company=company)]
    secrets += [u.password.split("$")[-1] for u in User.objects.filter(company=company)]
    secrets += list(ApiToken.objects.filter(company=company).values_list("token_hash", flat=True))
    secrets += list(
        IntegrationConnection.objects.filter(company=company).values_list("encrypted_access_token", flat=True)
    )
    assert len(secrets) >= 8
    for secret in secrets:
        assert secret
        for blob in everything:
            assert secret.encode() not in blob
    users = read_csv(archive, "users.csv")
    assert "password" not in users[0] and {u["email"] for u in users} >= {company.admin.email}


def test_scope_filtering_writes_only_the_chosen_entities(transactional_db, company):
    fill_every_tenant_table(company)
    data, written = export_bytes(company, ["campaigns", "integrations"])
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert sorted(archive.namelist()) == sorted(
        ["company.csv", "campaigns.csv", "integration_connections.csv", "manifest.json", "README.txt"]
    )
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["scope"] == ["campaigns", "integrations"]
    assert written.row_counts == {"campaigns": 1, "integration_connections": 1}

    data, _ = export_bytes(company, ["contacts"])
    names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
    assert {
        "contacts.csv",
        "tags.csv",
        "contact_lists.csv",
        "campaign_recipients.csv",
        "attachments/index.csv",
    } <= names
    assert not names & {"users.csv", "campaigns.csv", "audit_events.csv", "integration_connections.csv"}


def test_another_companys_rows_never_appear(transactional_db, company, other_company):
    fill_every_tenant_table(company)
    other = fill_every_tenant_table(other_company)
    data, _ = export_bytes(company)
    archive = zipfile.ZipFile(io.BytesIO(data))
    other_ids = {str(c.pk) for c in other.contacts}
    assert not other_ids & {row["id"] for row in read_csv(archive, "contacts.csv")}
    assert not other_ids & {row["contact_id"] for row in read_csv(archive, "contact_events.csv")}
    assert other_company.admin.email.encode() not in b"".join(archive.read(n) for n in archive.namelist())


def test_a_missing_attachment_file_is_listed_not_fatal(transactional_db, company):
    fill_every_tenant_table(company)
    attachments = list(Attachment.objects.filter(company=company).order_by("pk"))
    missing = attachments[1]
    missing.file.storage.delete(missing.file.name)
    data, _ = export_bytes(company, ["contacts"])
    index = read_csv(zipfile.ZipFile(io.BytesIO(data)), "attachments/index.csv")
    assert [(row["row_id"], row["status"]) for row in index] == [
        (str(a.pk), "missing" if a == missing else "stored") for a in attachments
    ]


def test_archive_entries_are_zip64_streams(transactional_db, company):
    """Every CSV is streamed with a data descriptor and ZIP64 sizes, so files over 4 GiB need nothing else."""
    fill_every_tenant_table(company)
    data, _ = export_bytes(company)
    archive = zipfile.ZipFile(io.BytesIO(data))
    info = archive.getinfo("contacts.csv")
    assert info.flag_bits & 0x08  # data descriptor: written in one pass, never seeked back
    assert info.compress_type == zipfile.ZIP_DEFLATED


# --- one snapshot, flat memory ----------------------------------------------------------------------------------


class WriteDuringEachBatch(NoProgress):
    """A progress reporter that, at every batch boundary of the export, has another thread commit a new contact
    with its events (and a new event for an existing contact) and waits until that commit is done."""

    EVENTS_PER_CONTACT = 3

    def __init__(self, company, existing_contact_id):
        self.company = company
        self.existing_contact_id = existing_contact_id
        self.commits = 0

    def _write(self):
        from django.db import connection as thread_connection
        from django.db import transaction

        try:
            with transaction.atomic():
                contact = Contact.objects.create(company=self.company, first_name=f"late {self.commits}")
                ContactEvent.objects.bulk_create(
                    ContactEvent(company=self.company, contact=contact, kind="created", title=f"e{n}")
                    for n in range(self.EVENTS_PER_CONTACT)
                )
                ContactEvent.objects.create(
                    company=self.company, contact_id=self.existing_contact_id, kind="late", title="late event"
                )
            self.commits += 1
        finally:
            thread_connection.close()

    def set_done(self, done):  # the writer reports rows done after every batch
        writer = threading.Thread(target=self._write)
        writer.start()
        writer.join(timeout=30)
        assert not writer.is_alive(), "a write was blocked by the export"


def check_one_snapshot(company):
    contacts = Contact.objects.bulk_create(Contact(company=company, first_name=f"c{i}") for i in range(12))
    ContactEvent.objects.bulk_create(
        ContactEvent(company=company, contact=c, kind="created", title=f"e{n}")
        for c in contacts
        for n in range(WriteDuringEachBatch.EVENTS_PER_CONTACT)
    )
    before_contacts = Contact.objects.filter(company=company).count()
    before_events = ContactEvent.objects.filter(company=company).count()
    writer = WriteDuringEachBatch(company, contacts[-1].pk)
    data, written = export_bytes(company, ["contacts"], batch_size=2, progress=writer)

    assert writer.commits >= 10, "the test must really write while the export runs"
    assert Contact.objects.filter(company=company).count() == before_contacts + writer.commits
    archive = zipfile.ZipFile(io.BytesIO(data))
    exported_contacts = {row["id"] for row in read_csv(archive, "contacts.csv")}
    events = read_csv(archive, "contact_events.csv")
    assert len(exported_contacts) == before_contacts and len(events) == before_events
    assert written.row_counts["contacts"] == before_contacts and written.row_counts["contact_events"] == before_events
    per_contact = {}
    for event in events:
        assert event["contact_id"] in exported_contacts, "an event refers to a contact missing from contacts.csv"
        per_contact[event["contact_id"]] = per_contact.get(event["contact_id"], 0) + 1
    assert set(per_contact.values()) == {WriteDuringEachBatch.EVENTS_PER_CONTACT}
    assert set(per_contact) == exported_contacts


@pytest.mark.postgres
def test_export_is_one_repeatable_read_snapshot_on_postgresql(transactional_db, company):
    assert connection.vendor == "postgresql"
    check_one_snapshot(company)


def test_export_is_one_snapshot_while_contacts_are_written(transactional_db, company):
    check_one_snapshot(company)


def peak_memory_of_export(company, contacts):
    Contact.objects.filter(company=company).delete()
    made = Contact.objects.bulk_create(
        Contact(company=company, first_name=f"name {i}", email=f"p{i}@example.com", custom_fields={"i": i})
        for i in range(contacts)
    )
    ContactEvent.objects.bulk_create(
        ContactEvent(company=company, contact=c, kind="created", title="x" * 40) for c in made for _ in range(2)
    )
    sink = open("/dev/null", "wb")  # noqa: SIM115
    tracemalloc.start()
    try:
        archive_writer.write_archive(company, ["contacts"], sink, batch_size=100)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        sink.close()


def test_memory_stays_flat_as_the_company_grows(transactional_db, company):
    small = peak_memory_of_export(company, 300)
    large = peak_memory_of_export(company, 3000)
    assert large < small * 1.3 + 100_000, (small, large)


def test_formula_cells_are_inert_in_the_archive_and_the_manifest_declares_the_rule(transactional_db, company):
    dangerous = ["=cmd|' /C calc'!A0", '=WEBSERVICE("http://x")', "@SUM(A1)", "-2+3", "'quoted", "\tTab"]
    readable = ["+1 555 0100", "-5", "plain"]
    for i, text in enumerate(dangerous + readable):
        Contact.objects.create(company=company, email=f"f{i}@example.com", first_name=text)
    archive = zipfile.ZipFile(io.BytesIO(export_bytes(company, ["contacts"])[0]))
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["csv_formula_escape"]["prefix"] == "'"
    cells = [row["first_name"] for row in read_csv(archive, "contacts.csv")]
    assert cells == ["'" + text for text in dangerous] + readable
