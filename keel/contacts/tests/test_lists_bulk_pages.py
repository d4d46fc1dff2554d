"""The contacts page's totals, sorts, filters and bulk form, and the lists page: tenant isolation (404), a lower
role (403), and the confirmation before a bulk deletion."""

import pytest

from keel.contacts.models import Contact, ContactList, ContactTag, ListMembership, Tag
from keel.contacts.tests.factories import make_contact


@pytest.fixture
def crowd(company):
    return [make_contact(company, f"p{i}@example.com", f"Pat{i}", "Smith" if i % 2 else "Jones") for i in range(6)]


def texts(response):
    return response.content.decode()


def test_contacts_page_shows_the_total_sorts_and_filters(admin_client, company, crowd):
    page = admin_client.get("/contacts/")
    assert "<strong>6</strong> contacts" in texts(page)
    assert 'href="?sort=-name"' not in texts(page) and 'href="?sort=name"' in texts(page)
    smiths = admin_client.get("/contacts/?q=smith&sort=-email")
    assert "<strong>3</strong> contacts match" in texts(smiths)
    assert [c.email for c in smiths.context["page"].items] == ["p5@example.com", "p3@example.com", "p1@example.com"]
    assert 'href="?q=smith&amp;sort=email"' in texts(smiths)  # clicking the sorted column reverses it
    response = admin_client.get("/contacts/?stage=royalty", follow=True)
    assert "The lifecycle stage must be one of" in texts(response)
    assert admin_client.get("/contacts/?tag_id=²").status_code == 400


def test_filters_of_another_company_answer_404(admin_client, other_company):
    theirs = ContactList.objects.create(company=other_company, name="Theirs")
    tag = Tag.objects.create(company=other_company, name="theirs")
    assert admin_client.get(f"/contacts/?list_id={theirs.pk}").status_code == 404
    assert admin_client.get(f"/contacts/?tag_id={tag.pk}").status_code == 404


def test_lists_page_creates_renames_and_deletes(admin_client, company, crowd):
    response = admin_client.post("/contacts/lists/new/", {"list_name": "Partners"}, follow=True)
    assert "List Partners created." in texts(response)
    partners = ContactList.objects.get(company=company, name="Partners")
    ListMembership.objects.create(company=company, contact_list=partners, contact=crowd[0])
    page = admin_client.get("/contacts/lists/")
    assert f'href="/contacts/?list_id={partners.pk}"' in texts(page)
    assert [(li.name, str(total)) for li, total in page.context["rows"]] == [("Partners", "1")]
    response = admin_client.post(f"/contacts/lists/{partners.pk}/rename/", {"list_name": "VIP"}, follow=True)
    assert "List Partners renamed to VIP." in texts(response)
    response = admin_client.post(f"/contacts/lists/{partners.pk}/delete/", follow=True)
    assert "List VIP deleted." in texts(response)
    assert not ContactList.objects.exists() and Contact.objects.count() == 6


def test_lists_page_404_for_another_companys_list_and_403_for_a_reader(
    admin_client, reader_client, company, other_company
):
    theirs = ContactList.objects.create(company=other_company, name="Theirs")
    assert admin_client.post(f"/contacts/lists/{theirs.pk}/rename/", {"list_name": "x"}).status_code == 404
    assert admin_client.post(f"/contacts/lists/{theirs.pk}/delete/").status_code == 404
    ours = ContactList.objects.create(company=company, name="Ours")
    assert reader_client.get("/contacts/lists/").status_code == 200
    assert reader_client.post("/contacts/lists/new/", {"list_name": "x"}).status_code == 403
    assert reader_client.post(f"/contacts/lists/{ours.pk}/rename/", {"list_name": "x"}).status_code == 403
    assert reader_client.post(f"/contacts/lists/{ours.pk}/delete/").status_code == 403
    assert ContactList.objects.get(pk=theirs.pk).name == "Theirs" and ContactList.objects.get(pk=ours.pk).name == "Ours"


def test_bulk_form_on_a_selection_and_on_all_matching(admin_client, company, crowd):
    picked = [crowd[0].pk, crowd[2].pk]
    response = admin_client.post(
        "/contacts/bulk/", {"action": "add_tag", "tag": "warm", "contact_ids": picked, "scope": "selected"}, follow=True
    )
    assert "Tag “warm” added to 2 contacts." in texts(response)
    response = admin_client.post(
        "/contacts/bulk/",
        {"action": "add_to_list", "list_name": "Smiths", "scope": "matching", "q": "smith"},
        follow=True,
    )
    assert "3 contacts added to the list Smiths." in texts(response)
    assert response.redirect_chain[-1][0] == "/contacts/?q=smith"
    smiths = ContactList.objects.get(company=company, name="Smiths")
    assert ListMembership.objects.filter(contact_list=smiths).count() == 3
    response = admin_client.post("/contacts/bulk/", {"action": "add_tag", "tag": "x", "scope": "selected"}, follow=True)
    assert "Select contacts with their check boxes" in texts(response)


def test_bulk_delete_asks_for_confirmation_first(admin_client, company, crowd):
    form = {"action": "delete", "scope": "matching", "q": "jones"}
    confirm = admin_client.post("/contacts/bulk/", form)
    assert confirm.status_code == 200
    assert "Delete 3 contacts?" in texts(confirm)
    assert Contact.objects.filter(company=company).count() == 6
    response = admin_client.post("/contacts/bulk/", {**form, "confirmed": "yes"}, follow=True)
    assert "3 contacts deleted" in texts(response)
    assert set(Contact.objects.filter(company=company).values_list("last_name", flat=True)) == {"Smith"}


def test_bulk_form_404_for_another_companys_contacts_and_403_for_a_reader(
    admin_client, reader_client, crowd, foreign_contact
):
    response = admin_client.post(
        "/contacts/bulk/",
        {"action": "delete", "contact_ids": [foreign_contact.pk], "scope": "selected", "confirmed": "yes"},
        follow=True,
    )
    assert "do not exist in your company" in texts(response)
    assert Contact.objects.filter(pk=foreign_contact.pk).exists()
    theirs = ContactList.objects.create(company=foreign_contact.company, name="Theirs")
    form = {"action": "add_to_list", "target_list_id": theirs.pk, "contact_ids": [crowd[0].pk], "scope": "selected"}
    assert admin_client.post("/contacts/bulk/", form).status_code == 404
    for action in ("add_tag", "delete"):
        form = {"action": action, "tag": "x", "contact_ids": [crowd[0].pk], "scope": "selected", "confirmed": "yes"}
        assert reader_client.post("/contacts/bulk/", form).status_code == 403
    assert not ContactTag.objects.exists() and Contact.objects.filter(pk=crowd[0].pk).exists()


def test_bulk_form_is_refused_during_a_crm_deletion(admin_client, crowd, crm_locked):
    form = {"action": "add_tag", "tag": "x", "scope": "matching"}
    response = admin_client.post("/contacts/bulk/", form, follow=True)
    assert "All CRM records are being deleted" in texts(response)
    assert not ContactTag.objects.exists()
