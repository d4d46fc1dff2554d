"""CSV import understands Keel's own contacts.csv: custom fields as fields, creation times kept, ids and update times
left out, and the export's spreadsheet escape taken off again."""

import io
import zipfile
from datetime import UTC, datetime

from keel.contacts.imports.columns import detect_columns
from keel.contacts.imports.tests.helpers import import_now
from keel.contacts.models import Contact
from keel.datacontrol.export.archive import write_archive
from keel.testing import ApiClient, make_company


def contacts_csv_of(company):
    out = io.BytesIO()
    write_archive(company, ["contacts"], out)
    return zipfile.ZipFile(out).read("contacts.csv").decode("utf-8")


def test_a_keel_contacts_csv_comes_back_with_custom_fields_and_creation_times(transactional_db, company):
    created = datetime(2024, 2, 3, 4, 5, 6, tzinfo=UTC)
    Contact.objects.create(
        company=company,
        email="ada@example.com",
        first_name="=1+1 stays text",
        phone="+1 555 0100",
        custom_fields={"plan": "gold", "seats": 12, "nested": {"a": [1, None]}},
        created_at=created,
    )
    Contact.objects.create(company=company, email="bob@example.com", last_name="'quoted", created_at=created)
    target = make_company("Phoenix")

    job = import_now(ApiClient(target.admin), contacts_csv_of(company))
    assert job.state == "succeeded", job.error

    ada = Contact.objects.get(company=target, email="ada@example.com")
    assert ada.first_name == "=1+1 stays text" and ada.phone == "+1 555 0100"
    assert ada.custom_fields == {"plan": "gold", "seats": 12, "nested": {"a": [1, None]}}
    assert ada.created_at == created
    bob = Contact.objects.get(company=target, email="bob@example.com")
    assert bob.last_name == "'quoted" and bob.custom_fields == {}


def test_id_and_updated_at_are_not_imported_unless_mapped():
    header = ["id", "email", "first_name", "custom_fields", "created_at", "updated_at"]
    assert detect_columns(header) == ["", "email", "first_name", "custom_fields", "created_at", ""]


def test_custom_fields_that_are_not_a_json_object_are_reported_by_line(company):
    csv_text = 'email,custom_fields\r\nada@example.com,[1]\r\nbob@example.com,{"plan": "gold"}\r\n'
    job = import_now(ApiClient(company.admin), csv_text)
    assert job.result["created"] == 1 and job.result["errors"] == 1
    assert Contact.objects.get(company=company, email="bob@example.com").custom_fields == {"plan": "gold"}
