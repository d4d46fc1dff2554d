"""Inputs that used to answer 500: each is a 4xx naming the field. Who wrote a history entry is the actor."""

import pytest

from keel.contacts import history
from keel.contacts.models import ContactEvent, ContactList


@pytest.mark.parametrize("key", ["kind", "title", "by"])
def test_event_data_cannot_set_the_events_own_fields_or_its_author(api, contact, key):
    response = api.post(f"contacts/{contact.pk}/events", {"kind": "call", "title": "Called", "data": {key: "x"}})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["field"] == f"data.{key}"
    assert f"cannot contain the key “{key}”" in error["message"]
    assert not ContactEvent.objects.filter(kind="call").exists()


def test_a_member_cannot_forge_who_wrote_an_entry(member_api, member, admin, contact):
    forged = member_api.post(
        f"contacts/{contact.pk}/events", {"kind": "call", "title": "Called", "data": {"by": admin.email}}
    )
    assert forged.status_code == 422
    written = member_api.post(f"contacts/{contact.pk}/events", {"kind": "call", "title": "Called", "data": {"n": 1}})
    assert written.status_code == 201
    assert written.json()["data"] == {"n": 1, "by": member.email}
    assert [event.data["by"] for event in ContactEvent.objects.filter(kind="call")] == [member.email]


def test_the_history_module_takes_the_author_from_the_actor_only(member, contact):
    fields = history.entry_fields(contact.company_id, contact.pk, "call", "Called", actor=member, data={"by": "x@y"})
    assert fields["data"] == {"by": member.email}
    keel_written = history.entry_fields(contact.company_id, contact.pk, "sent", "Sent", data={"by": "x@y", "n": 1})
    assert keel_written["data"] == {"n": 1}


@pytest.mark.parametrize("value", ["²", "١٢", "99999999999999999999", "-1", "abc"])
def test_an_invalid_page_link_on_the_contacts_page_is_a_400(admin_client, value):
    for name in ("after", "before"):
        response = admin_client.get("/contacts/", {name: value})
        assert response.status_code == 400


@pytest.mark.parametrize("value", ["²", "99999999999999999999"])
def test_an_invalid_after_in_the_api_is_a_422_naming_it(api, value):
    response = api.get("contacts", {"after": value})
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "after"


@pytest.mark.parametrize("value", ["²", "99999999999999999999"])
def test_an_invalid_list_id_on_a_contact_page_is_refused_naming_the_list(admin_client, contact, company, value):
    ContactList.objects.create(company=company, name="Newsletter")
    response = admin_client.post(f"/contacts/{contact.pk}/lists/", {"list_id": value}, follow=True)
    assert response.status_code == 200
    assert "Choose a list, or type the name of a new list." in response.content.decode()
    assert not contact.list_memberships.exists()
