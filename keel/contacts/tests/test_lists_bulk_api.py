"""Contact lists and bulk actions in the API: what they do, another company's objects (404), a lower role (403),
and the refusal during a CRM deletion."""

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from keel.audit.models import AuditEvent
from keel.contacts import bulk_actions
from keel.contacts.models import Attachment, Contact, ContactEvent, ContactList, ContactTag, ListMembership, Tag
from keel.contacts.tests.factories import make_contact


def error(response):
    return response.json()["error"]


@pytest.fixture
def crowd(company):
    return [make_contact(company, f"p{i}@example.com", f"Pat{i}", "Smith" if i % 2 else "Jones") for i in range(8)]


@pytest.fixture
def partners(company):
    return ContactList.objects.create(company=company, name="Partners")


@pytest.fixture
def foreign_list(other_company):
    return ContactList.objects.create(company=other_company, name="Theirs")


# --- lists ----------------------------------------------------------------------------------------------------


def test_create_rename_list_and_delete_a_list(api, company, crowd):
    response = api.post("lists", {"name": "  Big   customers "})
    assert response.status_code == 201, response.content
    list_id = response.json()["id"]
    assert response.json()["name"] == "Big customers"
    assert response.json()["members"] == {"value": 0, "relation": "eq"}
    assert api.post("lists", {"name": "big CUSTOMERS"}).json()["error"]["code"] == "list_name_taken"

    assert api.post(
        "contacts/bulk/add-to-list", {"contact_ids": [crowd[0].pk, crowd[1].pk], "list_id": list_id}
    ).json() == {"affected": 2}
    assert api.get(f"lists/{list_id}").json()["members"] == {"value": 2, "relation": "eq"}
    members = api.get("contacts", {"list_id": list_id}).json()
    assert [c["id"] for c in members["items"]] == [crowd[0].pk, crowd[1].pk]

    renamed = api.patch(f"lists/{list_id}", {"name": "VIPs"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "VIPs"
    assert [item["name"] for item in api.get("lists").json()["items"]] == ["VIPs"]

    assert api.delete(f"lists/{list_id}").status_code == 204
    assert not ContactList.objects.filter(pk=list_id).exists()
    assert not ListMembership.objects.exists()
    assert Contact.objects.filter(company=company).count() == 8  # the contacts stay
    assert AuditEvent.objects.filter(action="list.deleted").exists()


def test_list_endpoints_answer_404_for_another_companys_list(api, foreign_list, crowd):
    assert api.get(f"lists/{foreign_list.pk}").status_code == 404
    assert api.patch(f"lists/{foreign_list.pk}", {"name": "Mine"}).status_code == 404
    assert api.delete(f"lists/{foreign_list.pk}").status_code == 404
    response = api.post("contacts/bulk/add-to-list", {"contact_ids": [crowd[0].pk], "list_id": foreign_list.pk})
    assert response.status_code == 404
    assert (
        api.post("contacts/bulk/delete", {"filter": {"list_id": foreign_list.pk}, "confirm": True}).status_code == 404
    )
    assert api.get("lists").json()["items"] == []
    assert ContactList.objects.get(pk=foreign_list.pk).name == "Theirs"


def test_list_and_bulk_writes_need_manage_contacts(reader_api, partners, crowd):
    assert reader_api.get("lists").status_code == 200
    assert reader_api.get(f"lists/{partners.pk}").status_code == 200
    for response in (
        reader_api.post("lists", {"name": "Mine"}),
        reader_api.patch(f"lists/{partners.pk}", {"name": "Mine"}),
        reader_api.delete(f"lists/{partners.pk}"),
        reader_api.post("contacts/bulk/add-tag", {"filter": {}, "tag": "x"}),
        reader_api.post("contacts/bulk/remove-tag", {"filter": {}, "tag": "nothing-like-it"}),
        reader_api.post("contacts/bulk/add-to-list", {"contact_ids": [crowd[0].pk], "list_id": partners.pk}),
        reader_api.post("contacts/bulk/delete", {"contact_ids": [crowd[0].pk], "confirm": True}),
    ):
        assert response.status_code == 403, response.content
        assert error(response)["code"] == "permission_denied"
    assert ContactList.objects.get(pk=partners.pk).name == "Partners"
    assert not ContactTag.objects.exists() and Contact.objects.count() == 8


# --- bulk actions ---------------------------------------------------------------------------------------------


def test_bulk_tag_and_untag_a_selection_and_everything_matching(api, company, crowd, monkeypatch):
    monkeypatch.setattr(bulk_actions, "BATCH", 3)  # several batches
    response = api.post("contacts/bulk/add-tag", {"filter": {"q": "smith"}, "tag": "Warm"})
    assert response.json() == {"affected": 4}
    warm = Tag.objects.get(company=company, name="Warm")
    assert set(ContactTag.objects.filter(tag=warm).values_list("contact_id", flat=True)) == {
        c.pk for c in crowd if c.last_name == "Smith"
    }
    assert api.post("contacts/bulk/add-tag", {"contact_ids": [crowd[0].pk, crowd[1].pk], "tag": "warm"}).json() == {
        "affected": 1
    }
    assert api.get("contacts", {"tag_id": warm.pk}).json()["total"] == {"value": 5, "relation": "eq"}
    assert api.post("contacts/bulk/remove-tag", {"filter": {"tag_id": warm.pk}, "tag": "WARM"}).json() == {
        "affected": 5
    }
    assert not ContactTag.objects.exists()


def test_bulk_add_to_list_writes_history(api, partners, crowd):
    response = api.post("contacts/bulk/add-to-list", {"filter": {}, "list_id": partners.pk})
    assert response.json() == {"affected": 8}
    assert ContactEvent.objects.filter(kind="list_added").count() == 8
    assert api.post("contacts/bulk/add-to-list", {"filter": {}, "list_id": partners.pk}).json() == {"affected": 0}


def test_bulk_selection_is_one_of_ids_or_filter_and_ids_must_be_the_companys(api, crowd, foreign_contact):
    assert api.post("contacts/bulk/add-tag", {"tag": "x"}).status_code == 422
    both = {"tag": "x", "contact_ids": [crowd[0].pk], "filter": {}}
    assert api.post("contacts/bulk/add-tag", both).status_code == 422
    response = api.post("contacts/bulk/add-tag", {"tag": "x", "contact_ids": [crowd[0].pk, foreign_contact.pk]})
    assert response.status_code == 422
    assert error(response)["code"] == "unknown_contacts"
    assert error(response)["contact_ids"] == [foreign_contact.pk]
    assert not ContactTag.objects.exists()
    response = api.post("contacts/bulk/delete", {"contact_ids": [foreign_contact.pk], "confirm": True})
    assert response.status_code == 422
    assert Contact.objects.filter(pk=foreign_contact.pk).exists()
    assert api.post("contacts/bulk/delete", {"contact_ids": [crowd[0].pk]}).status_code == 422  # no confirm


def test_bulk_delete_removes_the_contacts_with_everything_theirs(
    api, company, crowd, partners, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(bulk_actions, "BATCH", 2)
    doomed = [c for c in crowd if c.last_name == "Smith"]
    for contact in doomed:
        ListMembership.objects.create(company=company, contact_list=partners, contact=contact)
        contact.events.create(company=company, kind="call", title="Called")
    attachment = Attachment(company=company, contact=doomed[0], filename="a.txt", size=1)
    attachment.file.save("a.txt", ContentFile(b"x"), save=False)
    attachment.save()
    stored = attachment.file.name
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("contacts/bulk/delete", {"filter": {"q": "smith"}, "confirm": True})
    assert response.status_code == 200, response.content
    assert response.json() == {"affected": 4}
    assert set(Contact.objects.filter(company=company).values_list("last_name", flat=True)) == {"Jones"}
    assert not ListMembership.objects.exists() and not Attachment.objects.exists()
    assert not ContactEvent.objects.filter(contact_id__in=[c.pk for c in doomed]).exists()
    assert not default_storage.exists(stored)
    assert AuditEvent.objects.get(action="contacts.bulk_deleted").metadata["deleted"] == 4


def test_bulk_actions_are_refused_during_a_crm_deletion(api, crowd, partners, crm_locked):
    for path, body in (
        ("contacts/bulk/add-tag", {"filter": {}, "tag": "x"}),
        ("contacts/bulk/add-to-list", {"filter": {}, "list_id": partners.pk}),
        ("contacts/bulk/delete", {"contact_ids": [crowd[0].pk], "confirm": True}),
    ):
        response = api.post(path, body)
        assert response.status_code == 409, response.content
        assert error(response)["code"] == "crm_deletion_in_progress"
    assert api.post("lists", {"name": "New"}).status_code == 409
    assert Contact.objects.count() == 8 and not ContactTag.objects.exists()
