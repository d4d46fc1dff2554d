from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from keel.contacts import listing
from keel.contacts.models import Attachment, Contact, ContactEvent, ContactList, ContactTag, ListMembership, Note, Tag
from keel.contacts.tests.factories import make_contact

LOCK_MESSAGE = "All CRM records are being deleted"


def messages_of(response):
    return [str(m) for m in response.context["messages"]] if response.context else []


# --- list ---------------------------------------------------------------------------------------------------


def test_list_shows_only_the_companys_contacts(admin_client, contact, foreign_contact):
    response = admin_client.get("/contacts/")
    assert response.status_code == 200
    assert b"Ada Lovelace" in response.content
    assert b"Hank" not in response.content


def test_list_template_keeps_the_deletion_panel_and_import_button_hooks():
    source = (Path(__file__).parents[1] / "templates" / "contacts" / "list.html").read_text()
    assert "{% load crm_deletion contact_import contact_deletion %}" in source
    # The deletion panel (banner and Delete all CRM Records button) sits below the page title, and the progress bar
    # of a bulk deletion of contacts below it.
    assert source.index("<h1>CRM Contacts</h1>") < source.index("{% crm_deletion_panel %}")
    assert source.index("{% crm_deletion_panel %}") < source.index("{% contact_deletion_status %}")
    assert "{% new_contact_button %}" in source  # disabled, with the reason, during a CRM deletion
    assert "{% import_button %}" in source


def test_list_pages_by_keyset_without_count_or_offset(admin_client, company):
    ids = [make_contact(company, f"p{i:03}@example.com", f"P{i:03}").pk for i in range(120)]
    with CaptureQueriesContext(connection) as queries:
        first = admin_client.get("/contacts/")
    contact_queries = [q["sql"].upper() for q in queries.captured_queries if "CONTACTS_CONTACT" in q["sql"].upper()]
    assert contact_queries and not any("OFFSET" in sql for sql in contact_queries)
    # The total is the one count, and it is bounded: it stops after COUNT_BOUND + 1 rows (docs/crm.md, totals).
    counts = [sql for sql in contact_queries if "COUNT(" in sql]
    assert len(counts) == 1 and f"LIMIT {listing.COUNT_BOUND + 1}" in counts[0]
    assert first.context["page"].next_after == ids[49]
    assert first.context["page"].prev_before is None
    assert f'href="?after={ids[49]}"'.encode() in first.content

    second = admin_client.get(f"/contacts/?after={ids[49]}")
    assert [c.pk for c in second.context["page"].items] == ids[50:100]
    assert f'href="?before={ids[50]}"'.encode() in second.content

    back = admin_client.get(f"/contacts/?before={ids[50]}")
    assert [c.pk for c in back.context["page"].items] == ids[:50]
    assert back.context["page"].prev_before is None

    last = admin_client.get(f"/contacts/?after={ids[99]}")
    assert [c.pk for c in last.context["page"].items] == ids[100:]
    assert last.context["page"].next_after is None


def test_list_search_keeps_the_query_in_page_links(admin_client, company):
    for i in range(55):
        make_contact(company, f"smith{i}@example.com", "Jo", "Smith")
    make_contact(company, "other@example.com", "Al", "Jones")
    response = admin_client.get("/contacts/?q=smi")
    assert len(response.context["page"].items) == 50
    assert b"Jones" not in response.content
    assert b"q=smi&amp;after=" in response.content
    empty = admin_client.get("/contacts/?q=nobody")
    assert "starts with “nobody”" in empty.content.decode()


def test_reader_sees_the_list_without_write_buttons(reader_client, contact):
    response = reader_client.get("/contacts/")
    assert response.status_code == 200
    assert b"New contact" not in response.content


def test_pages_need_login(client, contact):
    response = client.get("/contacts/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


# --- contact page -------------------------------------------------------------------------------------------


def test_contact_page_shows_history_notes_tags_lists_attachments(admin_client, contact, admin):
    ContactEvent.objects.create(company=contact.company, contact=contact, kind="call", title="Phoned about pricing")
    Note.objects.create(company=contact.company, contact=contact, author=admin, body="Prefers e-mail")
    tag = Tag.objects.create(company=contact.company, name="vip")
    ContactTag.objects.create(company=contact.company, contact=contact, tag=tag)
    newsletter = ContactList.objects.create(company=contact.company, name="Newsletter")
    ListMembership.objects.create(company=contact.company, contact=contact, contact_list=newsletter)
    response = admin_client.get(f"/contacts/{contact.pk}/")
    assert response.status_code == 200
    page = response.content.decode()
    for text in ("Phoned about pricing", "Prefers e-mail", "vip", "Newsletter", "Analytical Engines", "Edit"):
        assert text in page


def test_contact_timeline_is_newest_first_and_paginated(admin_client, contact):
    from datetime import timedelta

    from django.utils import timezone

    start = timezone.now() - timedelta(days=100)
    for day in range(30):
        ContactEvent.objects.create(
            company=contact.company,
            contact=contact,
            kind="k",
            title=f"Event {day:02}",
            occurred_at=start + timedelta(days=day),
        )
    first = admin_client.get(f"/contacts/{contact.pk}/")
    titles = [e.title for e in first.context["timeline"].items]
    assert titles[:2] == ["Event 29", "Event 28"] and len(titles) == 25
    cursor = first.context["timeline"].next_before
    older = admin_client.get(f"/contacts/{contact.pk}/", {"before": cursor})
    assert [e.title for e in older.context["timeline"].items] == [f"Event {d:02}" for d in range(4, -1, -1)]
    assert older.context["timeline"].next_before is None
    assert admin_client.get(f"/contacts/{contact.pk}/", {"before": "junk"}).status_code == 302


def test_contact_page_of_another_company_is_404(admin_client, foreign_contact):
    assert admin_client.get(f"/contacts/{foreign_contact.pk}/").status_code == 404


def test_reader_sees_the_contact_without_write_controls(reader_client, contact):
    response = reader_client.get(f"/contacts/{contact.pk}/")
    assert response.status_code == 200
    assert b"Add note" not in response.content
    assert b"/edit/" not in response.content


# --- create, edit, delete -----------------------------------------------------------------------------------


def test_create_contact_from_the_form(admin_client, company):
    form = admin_client.get("/contacts/new/")
    assert form.status_code == 200
    response = admin_client.post(
        "/contacts/new/",
        {
            "email": "new@example.com",
            "first_name": "Nova",
            "last_name": "Stone",
            "lifecycle_stage": "lead",
            "custom_fields": "region: EMEA\nsource: fair",
            "tags": "vip, fair",
        },
    )
    contact = Contact.objects.get(company=company, email="new@example.com")
    assert response.status_code == 302
    assert response["Location"] == f"/contacts/{contact.pk}/"
    assert contact.custom_fields == {"region": "EMEA", "source": "fair"}
    assert sorted(contact.tag_links.values_list("tag__name", flat=True)) == ["fair", "vip"]


def test_invalid_form_shows_the_error_and_keeps_what_was_typed(admin_client):
    response = admin_client.post(
        "/contacts/new/",
        {"email": "broken", "first_name": "Typed Name", "lifecycle_stage": "lead", "custom_fields": "a: 1"},
    )
    assert response.status_code == 422
    assert any("not a valid e-mail address" in m for m in messages_of(response))
    assert b'value="Typed Name"' in response.content
    assert not Contact.objects.exists()
    bad_custom = admin_client.post(
        "/contacts/new/", {"first_name": "X", "lifecycle_stage": "lead", "custom_fields": "oops"}
    )
    assert any("Line 1 of the custom fields" in m for m in messages_of(bad_custom))


def test_edit_contact_keeps_custom_field_types(admin_client, contact):
    contact.custom_fields = {"score": 42, "active": True}
    contact.save()
    form = admin_client.get(f"/contacts/{contact.pk}/edit/")
    assert "score: 42" in form.content.decode()
    response = admin_client.post(
        f"/contacts/{contact.pk}/edit/",
        {
            "email": "ada@example.com",
            "first_name": "Augusta Ada",
            "last_name": "Lovelace",
            "lifecycle_stage": "customer",
            "custom_fields": "score: 42\nactive: true\nnew: yes",
        },
    )
    assert response.status_code == 302
    contact.refresh_from_db()
    assert contact.first_name == "Augusta Ada"
    assert contact.lifecycle_stage == "customer"
    assert contact.custom_fields == {"score": 42, "active": True, "new": "yes"}


def test_delete_contact_from_its_page(admin_client, contact):
    assert admin_client.get(f"/contacts/{contact.pk}/delete/").status_code == 200
    response = admin_client.post(f"/contacts/{contact.pk}/delete/")
    assert response.status_code == 302 and response["Location"] == "/contacts/"
    assert not Contact.objects.filter(pk=contact.pk).exists()


# --- notes, tags, lists, attachments ------------------------------------------------------------------------


def test_add_note(admin_client, contact, admin):
    admin_client.post(f"/contacts/{contact.pk}/notes/", {"body": "Met at the fair"})
    note = contact.notes.get()
    assert (note.body, note.author) == ("Met at the fair", admin)
    response = admin_client.post(f"/contacts/{contact.pk}/notes/", {"body": "  "}, follow=True)
    assert "A note cannot be empty." in messages_of(response)


def test_add_and_remove_tags(admin_client, contact):
    admin_client.post(f"/contacts/{contact.pk}/tags/", {"tag": "VIP"})
    admin_client.post(f"/contacts/{contact.pk}/tags/", {"tag": "vip"})  # same tag, whatever the case
    tag = Tag.objects.get(company=contact.company)
    assert tag.name == "VIP" and contact.tag_links.count() == 1
    admin_client.post(f"/contacts/{contact.pk}/tags/{tag.pk}/remove/")
    assert not contact.tag_links.exists()


def test_add_to_new_and_existing_lists_and_remove(admin_client, contact, company, other_company):
    admin_client.post(f"/contacts/{contact.pk}/lists/", {"list_name": "Newsletter"})
    newsletter = ContactList.objects.get(company=company, name="Newsletter")
    webinar = ContactList.objects.create(company=company, name="Webinar")
    admin_client.post(f"/contacts/{contact.pk}/lists/", {"list_id": webinar.pk})
    assert set(contact.list_memberships.values_list("contact_list__name", flat=True)) == {"Newsletter", "Webinar"}
    assert contact.events.filter(kind="list_added").count() == 2
    admin_client.post(f"/contacts/{contact.pk}/lists/{newsletter.pk}/remove/")
    assert list(contact.list_memberships.values_list("contact_list__name", flat=True)) == ["Webinar"]
    foreign_list = ContactList.objects.create(company=other_company, name="Theirs")
    assert admin_client.post(f"/contacts/{contact.pk}/lists/", {"list_id": foreign_list.pk}).status_code == 404
    assert admin_client.post(f"/contacts/{contact.pk}/lists/{foreign_list.pk}/remove/").status_code == 404
    response = admin_client.post(f"/contacts/{contact.pk}/lists/", {"list_name": "webinar"}, follow=True)
    assert "A list named “webinar” already exists." in messages_of(response)


def test_upload_download_and_delete_attachment(admin_client, contact, company, django_capture_on_commit_callbacks):
    upload = SimpleUploadedFile("../../contract final.pdf", b"%PDF-1.4 data", content_type="application/pdf")
    admin_client.post(f"/contacts/{contact.pk}/attachments/", {"file": upload})
    attachment = Attachment.objects.get(contact=contact)
    assert attachment.filename == "contract_final.pdf"
    assert attachment.file.name.startswith(f"companies/{company.pk}/attachments/")
    assert default_storage.exists(attachment.file.name)
    download = admin_client.get(f"/contacts/{contact.pk}/attachments/{attachment.pk}/")
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == b"%PDF-1.4 data"
    assert 'attachment; filename="contract_final.pdf"' in download["Content-Disposition"]
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(f"/contacts/{contact.pk}/attachments/{attachment.pk}/delete/")
    assert not Attachment.objects.exists()
    assert not default_storage.exists(attachment.file.name)


def test_empty_upload_is_refused_with_a_message(admin_client, contact):
    response = admin_client.post(
        f"/contacts/{contact.pk}/attachments/", {"file": SimpleUploadedFile("a.txt", b"")}, follow=True
    )
    assert "The file is empty." in messages_of(response)
    assert not Attachment.objects.exists()


def test_deleting_a_contact_deletes_its_stored_files(admin_client, contact, django_capture_on_commit_callbacks):
    admin_client.post(f"/contacts/{contact.pk}/attachments/", {"file": SimpleUploadedFile("a.txt", b"hello")})
    name = Attachment.objects.get().file.name
    assert default_storage.exists(name)
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(f"/contacts/{contact.pk}/delete/")
    assert not default_storage.exists(name)


# --- isolation and permissions on every page ----------------------------------------------------------------


def foreign_urls(contact, attachment, tag, contact_list):
    base = f"/contacts/{contact.pk}"
    return {
        "get": [f"{base}/", f"{base}/edit/", f"{base}/delete/", f"{base}/attachments/{attachment.pk}/"],
        "post": [
            f"{base}/edit/",
            f"{base}/delete/",
            f"{base}/notes/",
            f"{base}/tags/",
            f"{base}/tags/{tag.pk}/remove/",
            f"{base}/lists/",
            f"{base}/lists/{contact_list.pk}/remove/",
            f"{base}/attachments/",
            f"{base}/attachments/{attachment.pk}/delete/",
        ],
    }


@pytest.fixture
def foreign_objects(foreign_contact):
    company = foreign_contact.company
    attachment = Attachment.objects.create(
        company=company, contact=foreign_contact, file="companies/x/attachments/a.txt", filename="a.txt"
    )
    tag = Tag.objects.create(company=company, name="theirs")
    ContactTag.objects.create(company=company, contact=foreign_contact, tag=tag)
    contact_list = ContactList.objects.create(company=company, name="Theirs")
    ListMembership.objects.create(company=company, contact=foreign_contact, contact_list=contact_list)
    return foreign_urls(foreign_contact, attachment, tag, contact_list)


def test_every_contact_page_answers_404_for_another_companys_contact(admin_client, foreign_contact, foreign_objects):
    for url in foreign_objects["get"]:
        assert admin_client.get(url).status_code == 404, url
    for url in foreign_objects["post"]:
        assert admin_client.post(url, {"body": "x", "tag": "x", "list_name": "x"}).status_code == 404, url
    foreign_contact.refresh_from_db()
    assert foreign_contact.notes.count() == 0 and foreign_contact.tag_links.count() == 1
    assert foreign_contact.list_memberships.count() == 1 and foreign_contact.attachments.count() == 1


def test_another_companys_attachment_is_404_even_under_an_own_contact(admin_client, contact, foreign_contact):
    theirs = Attachment.objects.create(
        company=foreign_contact.company, contact=foreign_contact, file="companies/x/a.txt", filename="a.txt"
    )
    assert admin_client.get(f"/contacts/{contact.pk}/attachments/{theirs.pk}/").status_code == 404
    assert admin_client.post(f"/contacts/{contact.pk}/attachments/{theirs.pk}/delete/").status_code == 404
    assert Attachment.objects.filter(pk=theirs.pk).exists()


def test_every_write_page_answers_403_without_manage_contacts(reader_client, contact, admin):
    attachment = Attachment.objects.create(
        company=contact.company, contact=contact, file="companies/x/attachments/a.txt", filename="a.txt"
    )
    tag = Tag.objects.create(company=contact.company, name="vip")
    ContactTag.objects.create(company=contact.company, contact=contact, tag=tag)
    contact_list = ContactList.objects.create(company=contact.company, name="Newsletter")
    ListMembership.objects.create(company=contact.company, contact=contact, contact_list=contact_list)
    urls = foreign_urls(contact, attachment, tag, contact_list)
    assert reader_client.get("/contacts/new/").status_code == 403
    assert reader_client.post("/contacts/new/", {"email": "x@example.com"}).status_code == 403
    for url in [u for u in urls["get"] if u.endswith(("/edit/", "/delete/"))]:
        assert reader_client.get(url).status_code == 403, url
    for url in urls["post"]:
        assert reader_client.post(url, {"body": "x", "tag": "x", "list_name": "x"}).status_code == 403, url
    assert Contact.objects.filter(pk=contact.pk, first_name="Ada").exists()
    assert contact.tag_links.count() == 1 and contact.list_memberships.count() == 1
    assert Attachment.objects.count() == 1 and not Note.objects.exists()


def test_reader_may_download_attachments(admin_client, reader_client, contact):
    admin_client.post(f"/contacts/{contact.pk}/attachments/", {"file": SimpleUploadedFile("a.txt", b"hello")})
    attachment = Attachment.objects.get()
    response = reader_client.get(f"/contacts/{contact.pk}/attachments/{attachment.pk}/")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"hello"


# --- the CRM deletion lock ----------------------------------------------------------------------------------


def test_page_writes_show_a_clear_message_during_a_crm_deletion(admin_client, contact, crm_locked):
    response = admin_client.post("/contacts/new/", {"email": "x@example.com", "lifecycle_stage": "lead"})
    assert response.status_code == 409
    assert any(LOCK_MESSAGE in m for m in messages_of(response))
    for url, data in [
        (f"/contacts/{contact.pk}/edit/", {"first_name": "Changed", "lifecycle_stage": "lead"}),
        (f"/contacts/{contact.pk}/delete/", {}),
        (f"/contacts/{contact.pk}/notes/", {"body": "x"}),
        (f"/contacts/{contact.pk}/tags/", {"tag": "x"}),
        (f"/contacts/{contact.pk}/lists/", {"list_name": "x"}),
        (f"/contacts/{contact.pk}/attachments/", {"file": SimpleUploadedFile("a.txt", b"hi")}),
    ]:
        response = admin_client.post(url, data, follow=True)
        assert any(LOCK_MESSAGE in m for m in messages_of(response)), url
    contact.refresh_from_db()
    assert contact.first_name == "Ada"
    assert Contact.objects.count() == 1
    assert not (Note.objects.exists() or Tag.objects.exists() or ContactList.objects.exists())
    assert not Attachment.objects.exists()
