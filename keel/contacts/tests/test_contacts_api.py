from keel.contacts.models import Contact, ContactEvent, ContactTag, Note, Tag
from keel.contacts.tests.factories import make_contact


def error_code(response):
    return response.json()["error"]["code"]


# --- create -------------------------------------------------------------------------------------------------


def test_create_contact_returns_201_with_the_contact_and_a_history_entry(api, company):
    response = api.post(
        "contacts",
        {
            "email": " Grace@Example.com ",
            "first_name": "Grace",
            "last_name": "Hopper",
            "lifecycle_stage": "lead",
            "custom_fields": {"navy_rank": "Rear Admiral", "score": 42},
            "tags": ["vip", "VIP", "compilers"],
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["email"] == "grace@example.com"
    assert body["full_name"] == "Grace Hopper"
    assert body["custom_fields"] == {"navy_rank": "Rear Admiral", "score": 42}
    assert body["tags"] == ["compilers", "vip"]
    contact = Contact.objects.get(pk=body["id"], company=company)
    assert contact.events.get().kind == "contact_created"


def test_create_contact_names_the_invalid_field(api):
    response = api.post("contacts", {"email": "not-an-address", "first_name": "X"})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "email"
    assert "not a valid e-mail address" in response.json()["error"]["message"]

    response = api.post("contacts", {"first_name": "X", "lifecycle_stage": "royalty"})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "lifecycle_stage"

    response = api.post("contacts", {"first_name": 12})
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "first_name"

    response = api.post("contacts", {"phone": "123"})
    assert response.status_code == 422
    assert "needs an e-mail address or a name" in response.json()["error"]["message"]
    assert not Contact.objects.exists()


def test_duplicate_email_in_the_same_company_is_refused_but_other_companies_may_have_it(api, other_api, contact):
    response = api.post("contacts", {"email": "ADA@example.com"})
    assert response.status_code == 422
    assert error_code(response) == "email_taken"
    assert response.json()["error"]["contact_id"] == contact.pk
    assert other_api.post("contacts", {"email": "ada@example.com"}).status_code == 201


def test_creating_needs_manage_contacts(reader_api):
    response = reader_api.post("contacts", {"email": "x@example.com"})
    assert response.status_code == 403
    assert error_code(response) == "permission_denied"
    assert not Contact.objects.exists()


def test_members_may_manage_contacts_by_default(member_api):
    assert member_api.post("contacts", {"email": "x@example.com"}).status_code == 201


def test_unauthenticated_requests_get_401(client):
    response = client.get("/api/v1/contacts")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"


# --- read, list, search, pages ------------------------------------------------------------------------------


def test_get_contact_and_404_for_another_companys(api, contact, foreign_contact):
    response = api.get(f"contacts/{contact.pk}")
    assert response.status_code == 200
    assert response.json()["email"] == "ada@example.com"
    response = api.get(f"contacts/{foreign_contact.pk}")
    assert response.status_code == 404
    assert error_code(response) == "not_found"
    assert api.get("contacts/999999").status_code == 404


def test_reader_may_read(reader_api, contact):
    assert reader_api.get(f"contacts/{contact.pk}").status_code == 200
    assert reader_api.get("contacts").json()["items"][0]["id"] == contact.pk
    assert reader_api.get(f"contacts/{contact.pk}/events").status_code == 200


def test_list_is_scoped_to_the_company(api, contact, foreign_contact):
    ids = [item["id"] for item in api.get("contacts").json()["items"]]
    assert ids == [contact.pk]


def test_keyset_pagination_walks_every_contact_once(api, company):
    made = [make_contact(company, f"person{i}@example.com", f"Person{i}").pk for i in range(7)]
    seen, after, pages = [], None, 0
    while True:
        params = {"limit": 3, **({"after": after} if after else {})}
        body = api.get("contacts", params).json()
        seen += [item["id"] for item in body["items"]]
        pages += 1
        after = body["next_after"]
        if after is None:
            break
    assert seen == sorted(made)
    assert pages == 3


def test_list_limit_is_validated(api):
    response = api.get("contacts", {"limit": 201})
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "limit"
    assert api.get("contacts", {"limit": 200}).status_code == 200
    assert api.get("contacts", {"after": "abc"}).status_code == 422


def test_search_by_name_or_email_prefix(api, company):
    ada = make_contact(company, "ada@example.com", "Ada", "Lovelace")
    alan = make_contact(company, "turing@bletchley.example", "Alan", "Turing")
    grace = make_contact(company, "grace@navy.example", "Grace", "Hopper")

    def found(q):
        return [item["id"] for item in api.get("contacts", {"q": q}).json()["items"]]

    assert found("ada") == [ada.pk]
    assert found("LOVE") == [ada.pk]
    assert found("tur") == [alan.pk]  # last name and e-mail both match; listed once
    assert found("grace@navy") == [grace.pk]
    assert found("alan turing") == [alan.pk]
    assert found("a") == [ada.pk, alan.pk]
    assert found("navy") == []  # prefixes only: the middle of an address does not match
    assert found("zzz") == []


def test_search_pages_with_keyset(api, company):
    smiths = [make_contact(company, f"s{i}@example.com", "Jo", "Smith").pk for i in range(5)]
    make_contact(company, "other@example.com", "Jo", "Jones")
    first = api.get("contacts", {"q": "smith", "limit": 3}).json()
    second = api.get("contacts", {"q": "smith", "limit": 3, "after": first["next_after"]}).json()
    assert [c["id"] for c in first["items"] + second["items"]] == smiths
    assert second["next_after"] is None


# --- update, delete -----------------------------------------------------------------------------------------


def test_patch_changes_only_the_given_fields_and_records_history(api, contact):
    response = api.patch(f"contacts/{contact.pk}", {"job_title": "Analyst", "tags": ["math"]})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["job_title"] == "Analyst"
    assert body["email"] == "ada@example.com"
    assert body["tags"] == ["math"]
    event = contact.events.get(kind="contact_updated")
    assert event.data["fields"] == ["job_title"]
    assert api.patch(f"contacts/{contact.pk}", {"tags": []}).json()["tags"] == []


def test_patch_validates_and_loses_nothing(api, contact, company):
    make_contact(company, "taken@example.com", "T")
    response = api.patch(f"contacts/{contact.pk}", {"email": "taken@example.com", "job_title": "X"})
    assert response.status_code == 422
    assert error_code(response) == "email_taken"
    contact.refresh_from_db()
    assert (contact.email, contact.job_title) == ("ada@example.com", "")


def test_patch_and_delete_of_another_companys_contact_are_404(api, foreign_contact):
    assert api.patch(f"contacts/{foreign_contact.pk}", {"first_name": "X"}).status_code == 404
    assert api.delete(f"contacts/{foreign_contact.pk}").status_code == 404
    foreign_contact.refresh_from_db()
    assert foreign_contact.first_name == "Hank"


def test_patch_and_delete_need_manage_contacts(reader_api, contact):
    assert reader_api.patch(f"contacts/{contact.pk}", {"first_name": "X"}).status_code == 403
    assert reader_api.delete(f"contacts/{contact.pk}").status_code == 403
    assert Contact.objects.filter(pk=contact.pk, first_name="Ada").exists()


def test_delete_removes_the_contact_and_what_belongs_to_it(api, contact, admin):
    api.post(f"contacts/{contact.pk}/events", {"kind": "call", "title": "Called"})
    Note.objects.create(company=contact.company, contact=contact, body="hi")
    tag = Tag.objects.create(company=contact.company, name="vip")
    ContactTag.objects.create(company=contact.company, contact=contact, tag=tag)
    response = api.delete(f"contacts/{contact.pk}")
    assert response.status_code == 204
    assert not Contact.objects.filter(pk=contact.pk).exists()
    assert not ContactEvent.objects.filter(contact_id=contact.pk).exists()
    assert not Note.objects.exists()
    assert not ContactTag.objects.exists()
    assert Tag.objects.filter(pk=tag.pk).exists()  # the tag stays for the company's other contacts
    assert api.get(f"contacts/{contact.pk}").status_code == 404


# --- history ------------------------------------------------------------------------------------------------


def test_events_are_added_and_listed_newest_first_with_cursor_pages(api, contact):
    for i, day in enumerate([3, 1, 2]):
        response = api.post(
            f"contacts/{contact.pk}/events",
            {"kind": "call", "title": f"Call {i}", "occurred_at": f"2025-01-0{day}T10:00:00Z", "data": {"n": i}},
        )
        assert response.status_code == 201
        assert response.json()["data"]["n"] == i
    first = api.get(f"contacts/{contact.pk}/events", {"limit": 2}).json()
    assert [e["title"] for e in first["items"]] == ["Call 0", "Call 2"]
    second = api.get(f"contacts/{contact.pk}/events", {"limit": 2, "before": first["next_before"]}).json()
    assert [e["title"] for e in second["items"]] == ["Call 1"]
    assert second["next_before"] is None
    bad = api.get(f"contacts/{contact.pk}/events", {"before": "garbage"})
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "before"


def test_event_input_is_validated(api, contact):
    response = api.post(f"contacts/{contact.pk}/events", {"kind": "", "title": "x"})
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "kind"
    response = api.post(f"contacts/{contact.pk}/events", {"kind": "call"})
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "title"
    assert not contact.events.exists()


def test_events_of_another_companys_contact_are_404(api, foreign_contact):
    assert api.get(f"contacts/{foreign_contact.pk}/events").status_code == 404
    assert api.post(f"contacts/{foreign_contact.pk}/events", {"kind": "call", "title": "x"}).status_code == 404
    assert not foreign_contact.events.exists()


def test_adding_events_needs_manage_contacts(reader_api, contact):
    response = reader_api.post(f"contacts/{contact.pk}/events", {"kind": "call", "title": "x"})
    assert response.status_code == 403
    assert not contact.events.exists()


# --- the CRM deletion lock ----------------------------------------------------------------------------------


def test_writes_are_refused_while_all_crm_records_are_being_deleted(api, contact, crm_locked):
    attempts = [
        api.post("contacts", {"email": "new@example.com"}),
        api.patch(f"contacts/{contact.pk}", {"first_name": "Changed"}),
        api.delete(f"contacts/{contact.pk}"),
        api.post(f"contacts/{contact.pk}/events", {"kind": "call", "title": "x"}),
    ]
    for response in attempts:
        assert response.status_code == 409
        assert error_code(response) == "crm_deletion_in_progress"
        assert response.json()["error"]["job_id"] == crm_locked.pk
    contact.refresh_from_db()
    assert contact.first_name == "Ada"
    assert Contact.objects.count() == 1
    assert api.get(f"contacts/{contact.pk}").status_code == 200  # reading still works
