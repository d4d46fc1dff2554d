"""CSV import through the API: good and bad rows, matching by e-mail, refusals, mapping, permissions."""

import pytest
from django.core.files.storage import default_storage

from keel.accounts.models import Notice
from keel.contacts.imports.tests.helpers import import_now, report_rows, start, stored_files
from keel.contacts.models import Contact, ContactEvent, ContactTag, Tag
from keel.jobs.models import DataJob
from keel.jobs.tasks import create_job
from keel.testing import ApiClient, grant, make_user, run_queued_jobs

GOOD_AND_BAD = (
    "Email,First Name,Last Name,Company,Lifecycle Stage,Tags\r\n"  # line 1
    "ada@example.com,Ada,Lovelace,Analytical Engines,customer,vip; math\r\n"  # line 2
    "not-an-email,Bad,Email,,lead,\r\n"  # line 3: invalid e-mail
    'grace@example.com,"Grace\nBrewster",Hopper,Navy,Lead,\r\n'  # lines 4-5: a quoted newline
    f"long@example.com,{'x' * 101},Long,,,\r\n"  # line 6: first name too long
    "\r\n"  # line 7: blank, skipped
    "stage@example.com,Sam,Stage,,royalty,\r\n"  # line 8: unknown stage
    "short@example.com,Only,Three\r\n"  # line 9: wrong column count
    ",No,Email,,,\r\n"  # line 10: no e-mail
    "linus@example.com,Linus,Torvalds,,,kernel\r\n"  # line 11
)


# --- good and bad rows -----------------------------------------------------------------------------------------


def test_good_rows_are_imported_and_bad_ones_reported_with_their_line_numbers(api, company):
    response = start(api, GOOD_AND_BAD)
    assert response.status_code == 202
    payload = response.json()["job"]
    assert payload["kind"] == "import" and payload["state"] == "queued"
    assert set(payload) == {
        "id",
        "kind",
        "state",
        "progress",
        "step",
        "created_at",
        "started_at",
        "finished_at",
        "error",
        "result",
    }
    [job] = run_queued_jobs()
    assert job.state == "succeeded"
    emails = set(Contact.objects.filter(company=company).values_list("email", flat=True))
    assert emails == {"ada@example.com", "grace@example.com", "linus@example.com"}
    grace = Contact.objects.get(company=company, email="grace@example.com")
    assert (grace.first_name, grace.lifecycle_stage) == ("Grace\nBrewster", "lead")
    assert job.result["rows"] == job.result["total"] == 8
    assert (job.result["created"], job.result["updated"], job.result["errors"]) == (3, 0, 5)
    assert job.result["summary"] == (
        "Imported 8 rows from contacts.csv: 3 contacts created, 0 updated. "
        "5 rows have problems and were not imported: see the error report."
    )

    rows = report_rows(api, job)
    assert rows[0] == ["line", "problem", "Email", "First Name", "Last Name", "Company", "Lifecycle Stage", "Tags"]
    problems = {int(row[0]): row[1] for row in rows[1:]}
    assert sorted(problems) == [3, 6, 8, 9, 10]
    assert problems[3] == "“not-an-email” is not a valid e-mail address."
    assert problems[6] == "The first name is longer than 100 characters (101)."
    assert problems[8].startswith("“royalty” is not a lifecycle stage; use one of: subscriber, lead")
    assert problems[9] == "The row has 3 values but the header has 6 columns."
    assert problems[10].startswith("The e-mail address is missing")
    assert rows[1][2:] == ["not-an-email", "Bad", "Email", "", "lead", ""]  # the row as it was, to fix it


def test_each_imported_row_adds_an_imported_event_and_tags(api, company):
    job = import_now(api, GOOD_AND_BAD)
    events = ContactEvent.objects.filter(company=company, kind="imported")
    assert events.count() == 3
    event = events.get(contact__email="ada@example.com")
    assert event.title == "Imported from contacts.csv"
    assert event.data == {
        "job_id": job.pk,
        "file": "contacts.csv",
        "by": company.admin.email,
        "line": 2,
        "created": True,
    }
    ada = Contact.objects.get(company=company, email="ada@example.com")
    assert sorted(link.tag.name for link in ContactTag.objects.filter(contact=ada)) == ["math", "vip"]


def test_rows_are_matched_by_email_and_update_existing_contacts(api, company, other_company):
    existing = Contact.objects.create(
        company=company, email="ada@example.com", first_name="A.", phone="+44 1", custom_fields={"plan": "free"}
    )
    twin = Contact.objects.create(company=other_company, email="ada@example.com", first_name="Other")
    Tag.objects.create(company=company, name="VIP")
    content = (
        "email,first name,phone,plan,tags\n"
        "ADA@Example.com,Ada,,pro,vip\n"  # matched whatever the case; the empty phone keeps the old one
        "new@example.com,New,+1 555,,\n"
        "new@example.com,Newer,,,\n"  # the same address twice: the second row updates the first
    )
    job = import_now(api, content)
    assert (job.result["created"], job.result["updated"]) == (1, 2)
    existing.refresh_from_db()
    assert (existing.first_name, existing.phone, existing.custom_fields) == ("Ada", "+44 1", {"plan": "pro"})
    assert [link.tag.name for link in existing.tag_links.all()] == ["VIP"]  # the existing tag, whatever the case
    assert Tag.objects.filter(company=company).count() == 1
    new = Contact.objects.get(company=company, email="new@example.com")
    assert (new.first_name, new.phone, new.lifecycle_stage) == ("Newer", "+1 555", "subscriber")
    assert Contact.objects.filter(company=company).count() == 2
    twin.refresh_from_db()
    assert twin.first_name == "Other"  # another company's contact with the same address is untouched
    assert ContactEvent.objects.filter(company=company, kind="imported").count() == 3


def test_formula_looking_cells_are_stored_as_plain_text_and_defused_in_the_report(api, company):
    content = (
        "email,first name,last name,job title\n"
        'eve@example.com,=HYPERLINK("http://evil.test"),+SUM(A1:A2),-2+3\n'
        "@bad,=1+2,x,y\n"
    )
    job = import_now(api, content)
    eve = Contact.objects.get(company=company, email="eve@example.com")
    assert (eve.first_name, eve.last_name, eve.job_title) == ('=HYPERLINK("http://evil.test")', "+SUM(A1:A2)", "-2+3")
    [_, row] = report_rows(api, job)
    assert row[2:] == ["'@bad", "'=1+2", "x", "y"]


def test_a_semicolon_separated_file_with_a_byte_order_mark_is_read(api, company):
    content = "\ufeffE-Mail;Vorname;Nachname\r\nmarie@example.com;Marie;Curie\r\n"
    job = import_now(api, content)
    assert job.result["created"] == 1
    marie = Contact.objects.get(company=company, email="marie@example.com")
    assert (marie.first_name, marie.last_name) == ("Marie", "Curie")


def test_a_declared_legacy_encoding_is_read(api, company):
    content = "email,first name\nrene@example.com,René\n".encode("windows-1252")
    job = import_now(api, content, encoding="windows-1252")
    assert job.state == "succeeded"
    assert Contact.objects.get(company=company, email="rene@example.com").first_name == "René"


def test_the_uploaded_file_is_stored_under_the_company_and_deleted_when_the_job_ends(api, company):
    response = start(api, GOOD_AND_BAD)
    job = DataJob.objects.get(pk=response.json()["job"]["id"])
    folder = job.params["folder"]
    assert folder.startswith(f"companies/{company.pk}/imports/")
    assert default_storage.exists(job.params["upload"])
    run_queued_jobs()
    assert stored_files(company) == [f"{folder}/errors.csv"]  # only the error report stays


def test_the_requester_is_notified_when_the_import_finished(api, company):
    job = import_now(api, "email\nx@example.com\n")
    notice = Notice.objects.get(user=company.admin)
    assert notice.message == "Your import of contacts.csv finished. Imported 1 row from contacts.csv: 1 contacts " + (
        "created, 0 updated."
    )
    assert notice.link == f"/contacts/import/{job.pk}/"


# --- whole-file refusals -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content,name,code,message",
    [
        (b"", "contacts.csv", "empty_file", "The file is empty."),
        (b"\r\n\r\n", "contacts.csv", "empty_file", "The file has no rows."),
        (b"email,name\r\n", "contacts.csv", "empty_file", "The file has a header row but no contacts below it."),
        (b"PK\x03\x04\x14\x00\x06\x00", "contacts.csv", "not_csv", "This is not a CSV file."),
        (b"email\nx@y.z\n", "contacts.xlsx", "not_csv", "This is a spreadsheet file, not a CSV file."),
        (b"email\x00\x00\nx\n", "contacts.csv", "not_csv", "This is not a CSV file."),
        (b"<!DOCTYPE html><html></html>\n", "contacts.csv", "not_csv", "This is a web page or XML file"),
        (b"email,name\nx@y.z,Ren\xe9\n", "contacts.csv", "not_utf8", "The file is not UTF-8 encoded"),
        ("email\nx@y.z\n".encode("utf-16"), "contacts.csv", "not_utf8", "The file is saved as UTF-16"),
    ],
)
def test_a_file_that_cannot_be_imported_is_refused_up_front(api, company, content, name, code, message):
    response = start(api, content, name=name)
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"].startswith(message)
    assert error["field"] == "file"
    assert not DataJob.objects.filter(company=company).exists()
    assert stored_files(company) == []


def test_the_encoding_refusal_names_the_line_and_the_way_out(api):
    content = "email,name\n" + "a@b.c,x\n" * 5 + "x@y.z,Ren\xe9\n"
    response = start(api, content.encode("latin-1"))
    error = response.json()["error"]
    assert error["line"] == 7
    assert error["message"] == (
        "The file is not UTF-8 encoded (the first character Keel cannot read is on line 7). Save it as “CSV UTF-8”, "
        "or choose the encoding the file was saved in (for example Windows-1252) and upload it again."
    )


def test_a_file_over_the_size_limit_is_refused(api, company, settings):
    settings.KEEL_IMPORT_MAX_BYTES = 1024
    response = start(api, "email\n" + "someone@example.com\n" * 100)
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "file_too_large"
    assert error["message"] == (
        "The file is 2.0 KB; Keel imports files of up to 1.0 KB. Split it into smaller files and import them one by "
        "one."
    )
    assert stored_files(company) == []


def test_an_unknown_encoding_and_a_missing_file_are_refused_naming_the_field(api):
    response = start(api, "email\nx@y.z\n", encoding="klingon")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "unknown_encoding"
    response = api.upload("imports", {})
    assert response.status_code == 422
    assert response.json()["error"] == {"code": "no_file", "message": "Choose a CSV file to import.", "field": "file"}


# --- mapping -------------------------------------------------------------------------------------------------


def test_a_given_mapping_decides_every_column(api, company):
    content = "Work address,Given,Plan,Notes\nbob@example.com,Bob,gold,ignore me\n"
    mapping = {"Work address": "email", "Given": "first_name", "Plan": "custom:Plan", "Notes": None}
    import_now(api, content, mapping=mapping)
    bob = Contact.objects.get(company=company, email="bob@example.com")
    assert (bob.first_name, bob.custom_fields) == ("Bob", {"Plan": "gold"})


def test_without_mapping_unknown_columns_become_custom_fields(api, company):
    import_now(api, "email,Favourite colour\nbob@example.com,teal\n")
    assert Contact.objects.get(company=company).custom_fields == {"Favourite colour": "teal"}


@pytest.mark.parametrize(
    "mapping,code,message",
    [
        ('{"Nope": "email"}', "unknown_column", "The file has no column named “Nope”."),
        ('{"email": "birthday"}', "unknown_field", "“birthday” is not a contact field; use one of: email"),
        ('{"name": "first_name"}', "email_not_mapped", "Map a column to E-mail"),
        ('{"email": "email", "name": "email"}', "duplicate_field", "The columns “email” and “name” are both"),
        ("{not json", "invalid_input", "The mapping must be JSON"),
    ],
)
def test_a_wrong_mapping_is_refused_and_leaves_no_file(api, company, mapping, code, message):
    response = start(api, "email,name\nx@example.com,X\n", mapping=mapping)
    assert response.status_code == 422
    error = response.json()["error"]
    assert (error["code"], error["field"]) == (code, "mapping")
    assert error["message"].startswith(message)
    assert stored_files(company) == []


# --- who may import, and when --------------------------------------------------------------------------------


def test_importing_needs_the_import_contacts_permission(member_api, company):
    response = start(member_api, "email\nx@example.com\n")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert member_api.get("imports").status_code == 403
    grant(company, "import_contacts", "member")
    assert start(member_api, "email\nx@example.com\n").status_code == 202


def test_an_import_during_a_crm_deletion_is_refused(api, company):
    deletion = create_job(company, DataJob.Kind.CRM_DELETION, company.admin)
    response = start(api, "email\nx@example.com\n")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "crm_deletion_in_progress"
    assert error["job_id"] == deletion.pk
    assert stored_files(company) == []
    DataJob.objects.filter(pk=deletion.pk).update(state="succeeded")
    assert start(api, "email\nx@example.com\n").status_code == 202


def test_a_second_import_while_one_is_active_is_refused(api, company):
    first = start(api, "email\nx@example.com\n").json()["job"]
    response = start(api, "email\ny@example.com\n")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "operation_in_progress"
    assert response.json()["error"]["job_id"] == first["id"]


def test_the_error_report_of_another_company_is_not_found_and_a_lower_role_is_refused(api, company, other_api):
    job = import_now(api, GOOD_AND_BAD)
    assert other_api.get(f"imports/{job.pk}/errors").status_code == 404
    member_api = ApiClient(make_user(company, "member"))
    assert member_api.get(f"imports/{job.pk}/errors").status_code == 403
    clean = import_now(api, "email\nok@example.com\n")
    response = api.get(f"imports/{clean.pk}/errors")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "no_error_report"


def test_recent_imports_are_listed_for_the_company_only(api, other_api):
    job = import_now(api, "email\nok@example.com\n")
    assert [item["id"] for item in api.get("imports").json()] == [job.pk]
    assert other_api.get("imports").json() == []


def test_the_job_endpoint_shows_the_finished_import(api, other_api):
    job = import_now(api, GOOD_AND_BAD)
    body = api.get(f"jobs/{job.pk}").json()
    assert body["state"] == "succeeded"
    assert body["progress"] == {"done": 8, "total": 8, "percent": 100}
    assert body["result"]["error_report_url"] == f"/api/v1/imports/{job.pk}/errors"
    assert other_api.get(f"jobs/{job.pk}").status_code == 404
