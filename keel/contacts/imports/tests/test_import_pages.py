"""CRM Contacts → Import: the pages, the Import button, and who may see them."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.template import Context, Template
from django.test import Client, RequestFactory

from keel.contacts.imports.actions import do_upload_import_file
from keel.contacts.models import Contact
from keel.jobs.models import DataJob
from keel.jobs.tasks import create_job
from keel.testing import make_user, run_queued_jobs

CSV = b"E-mail address,Given name,Surname,Favourite colour\nada@example.com,Ada,Lovelace,teal\nbroken,B,C,red\n"


def logged_in(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def member_client(member):
    return logged_in(member)


def upload_page(client, content=CSV, name="people.csv", **extra):
    return client.post("/contacts/import/", {"file": SimpleUploadedFile(name, content), **extra})


def test_the_whole_flow_upload_check_columns_start_follow_and_read_the_summary(admin_client, company):
    page = admin_client.get("/contacts/import/")
    assert page.status_code == 200
    assert b'type="file" name="file"' in page.content

    uploaded = upload_page(admin_client)
    assert uploaded.status_code == 302
    mapping_url = uploaded["Location"]
    assert mapping_url.startswith("/contacts/import/upload/")

    mapping = admin_client.get(mapping_url)
    html = mapping.content.decode()
    assert "E-mail address" in html and "ada@example.com" in html
    assert '<option value="email" selected>' in html  # detected from the column name
    assert '<option value="custom:Favourite colour" selected>' in html

    # Adjust: do not import the colour.
    started = admin_client.post(
        mapping_url, {"column_0": "email", "column_1": "first_name", "column_2": "last_name", "column_3": ""}
    )
    assert started.status_code == 302
    job = DataJob.objects.get(company=company, kind="import")
    assert started["Location"] == f"/contacts/import/{job.pk}/"
    assert job.params["columns"] == ["email", "first_name", "last_name", ""]

    running = admin_client.get(started["Location"]).content.decode()
    assert f'data-job-progress="/jobs/{job.pk}/progress/"' in running
    assert "Cancel import" in running

    run_queued_jobs()
    done = admin_client.get(started["Location"]).content.decode()
    assert "100 %" in done
    assert "Imported 2 rows from people.csv: 1 contacts created, 0 updated." in done
    assert f'href="/contacts/import/{job.pk}/errors.csv"' in done
    assert "Cancel import" not in done
    ada = Contact.objects.get(company=company, email="ada@example.com")
    assert (ada.first_name, ada.custom_fields) == ("Ada", {})

    report = admin_client.get(f"/contacts/import/{job.pk}/errors.csv")
    assert report.status_code == 200
    assert b"".join(report.streaming_content).decode().splitlines()[1].startswith("3,")

    # Going back to the column page of a started upload leads to its import.
    assert admin_client.get(mapping_url)["Location"] == f"/contacts/import/{job.pk}/"


def test_a_refused_file_is_explained_on_the_page(admin_client, company):
    response = upload_page(admin_client, content=b"PK\x03\x04garbage", name="people.xlsx")
    assert response.status_code == 422
    assert "This is a spreadsheet file, not a CSV file." in response.content.decode()
    response = admin_client.post("/contacts/import/", {})
    assert "Choose a CSV file to import." in response.content.decode()


def test_a_mapping_without_email_is_refused_on_the_page_and_keeps_the_choices(admin_client):
    mapping_url = upload_page(admin_client)["Location"]
    response = admin_client.post(
        mapping_url, {"column_0": "", "column_1": "first_name", "column_2": "last_name", "column_3": ""}
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert "Map a column to E-mail" in html
    assert '<option value="first_name" selected>' in html
    assert not DataJob.objects.exists()


def test_during_a_crm_deletion_the_page_says_why_and_refuses_uploads(admin_client, company):
    create_job(company, DataJob.Kind.CRM_DELETION, company.admin)
    page = admin_client.get("/contacts/import/").content.decode()
    assert "all CRM records are being deleted" in page
    assert 'type="file"' not in page
    response = upload_page(admin_client)
    assert response.status_code == 409
    assert "All CRM records are being deleted." in response.content.decode()


def test_an_active_import_is_shown_with_its_status_bar(admin_client, company):
    upload_page(admin_client)
    admin_client.post(
        upload_page(admin_client)["Location"], {f"column_{i}": "" for i in range(4)} | {"column_0": "email"}
    )
    page = admin_client.get("/contacts/import/").content.decode()
    assert "An import is in progress" in page
    assert 'data-job-progress="/jobs/' in page


def test_pages_need_the_import_permission(member_client, admin, company):
    stored = do_upload_import_file(admin.company, actor=admin, uploaded=SimpleUploadedFile("a.csv", CSV))
    assert member_client.get("/contacts/import/").status_code == 403
    assert upload_page(member_client).status_code == 403
    assert member_client.get(f"/contacts/import/upload/{stored.token}/").status_code == 403
    job = create_job(company, DataJob.Kind.IMPORT, admin, {"folder": stored.folder, "filename": "a.csv"})
    assert member_client.get(f"/contacts/import/{job.pk}/").status_code == 403
    assert member_client.get(f"/contacts/import/{job.pk}/errors.csv").status_code == 403
    assert Client().get("/contacts/import/").status_code == 302  # to the login page


def test_another_companys_upload_and_import_are_not_found(admin_client, other_company):
    other_admin = other_company.admin
    stored = do_upload_import_file(other_admin.company, actor=other_admin, uploaded=SimpleUploadedFile("a.csv", CSV))
    job = create_job(other_company, DataJob.Kind.IMPORT, other_admin, {"folder": stored.folder, "filename": "a"})
    assert admin_client.get(f"/contacts/import/upload/{stored.token}/").status_code == 404
    assert admin_client.get(f"/contacts/import/{job.pk}/").status_code == 404
    assert admin_client.get(f"/contacts/import/{job.pk}/errors.csv").status_code == 404
    assert admin_client.get("/contacts/import/upload/..%2F..%2Fsecrets/").status_code == 404


# --- the Import button on CRM Contacts --------------------------------------------------------------------------


def render_button(user):
    request = RequestFactory().get("/contacts/")
    request.user, request.company = user, user.company
    return Template("{% load contact_import %}{% import_button %}").render(Context({"request": request}))


def test_the_import_button_links_to_the_import_page_for_importers_only(admin, company):
    assert render_button(admin) == '<a class="button secondary import-button" href="/contacts/import/">Import</a>'
    assert render_button(make_user(company, "manager")).startswith("<a ")
    assert render_button(make_user(company, "member")) == ""


@pytest.mark.parametrize(
    "kind,reason",
    [
        (DataJob.Kind.CRM_DELETION, "Imports are not possible while all CRM records are being deleted."),
        (DataJob.Kind.COMPANY_DELETION, "Imports are not possible while the company's data is being deleted."),
    ],
)
def test_the_import_button_is_disabled_with_the_reason_during_a_deletion(admin, company, kind, reason):
    create_job(company, kind, admin)
    html = render_button(admin)
    assert "<a " not in html
    assert 'aria-disabled="true"' in html
    assert reason.replace("'", "&#x27;") in html


def test_the_contacts_page_shows_the_import_button(admin_client):
    assert b'href="/contacts/import/">Import</a>' in admin_client.get("/contacts/").content
