"""The import's upload limits (checked before the upload is stored) and the error report's formula escaping."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from keel.contacts.imports import engine
from keel.contacts.imports.tests.helpers import import_now, report_rows, start, stored_files
from keel.jobs.models import DataJob
from keel.spreadsheets import defuse


def test_an_upload_over_the_limit_is_refused_by_its_content_length_before_the_body_is_read(api, company, settings):
    settings.KEEL_IMPORT_MAX_BYTES = 1024
    body = SimpleUploadedFile("people.csv", b"email\nada@example.com\n")
    # The claimed length is all the server reads: a body shorter than it would fail if it were read.
    response = api.client.post(
        "/api/v1/imports",
        {"file": body},
        HTTP_AUTHORIZATION=f"Bearer {api.token}",
        CONTENT_LENGTH=str(50 * 1024 * 1024),
    )
    assert response.status_code == 413
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("file_too_large", "file")
    assert error["message"].startswith("The file is 50.0 MB; Keel imports files of up to 1.0 KB.")
    assert stored_files(company) == [] and not DataJob.objects.exists()


def test_the_import_page_refuses_an_oversized_upload_by_its_content_length(admin_client, company, settings):
    settings.KEEL_IMPORT_MAX_BYTES = 1024
    response = admin_client.post(
        "/contacts/import/",
        {"file": SimpleUploadedFile("people.csv", b"email\nada@example.com\n")},
        CONTENT_LENGTH=str(50 * 1024 * 1024),
    )
    assert response.status_code == 413
    assert "The file is 50.0 MB; Keel imports files of up to 1.0 KB." in response.content.decode()
    assert stored_files(company) == []


def test_the_import_page_still_checks_the_csrf_token(admin, company):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    response = client.post("/contacts/import/", {"file": SimpleUploadedFile("a.csv", b"email\nada@example.com\n")})
    assert response.status_code == 403
    assert stored_files(company) == []


def test_a_line_longer_than_the_cap_is_refused_naming_the_line(api, company, monkeypatch):
    monkeypatch.setattr(engine, "MAX_LINE_BYTES", 100)
    content = "email,first name\nada@example.com,Ada\n" + "x" * 150 + "@example.com,Long\nbob@example.com,Bob\n"
    response = start(api, content)
    assert response.status_code == 422
    error = response.json()["error"]
    assert (error["code"], error["field"], error["line"]) == ("line_too_long", "file", 3)
    assert error["message"].startswith("Line 3 of the file is longer than 100 bytes")
    assert stored_files(company) == []


def test_a_line_cut_across_read_chunks_is_measured_whole(monkeypatch):
    monkeypatch.setattr(engine, "MAX_LINE_BYTES", 100)
    assert engine._check_line_lengths(b"x" * 60, 0, 0) == 60
    with pytest.raises(engine.FileRefused) as refused:
        engine._check_line_lengths(b"y" * 50 + b"\nshort", 60, 0)
    assert refused.value.extra["line"] == 1


def test_report_cells_a_spreadsheet_would_run_get_a_quote_and_numbers_stay_readable():
    for formula in ("=1+2", "+SUM(A1:A2)", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "=cmd|' /C calc'!A0", "-A1"):
        assert defuse(formula) == "'" + formula
    for plain in ("-5", "+1 555 0100", "-3.5", "+44 (20) 7946-0000", "plain", "", "a=b"):
        assert defuse(plain) == plain


def test_the_error_report_escapes_its_header_row_and_keeps_phone_numbers(api, company):
    content = "email,=HYPERLINK(1),phone\nbroken,x,+1 555 0100\nbad2,y,-5\n"
    job = import_now(api, content, mapping={"email": "email", "=HYPERLINK(1)": "first_name", "phone": "phone"})
    [header, first, second] = report_rows(api, job)
    assert header == ["line", "problem", "email", "'=HYPERLINK(1)", "phone"]
    assert first[2:] == ["broken", "x", "+1 555 0100"]
    assert second[2:] == ["bad2", "y", "-5"]
