"""The bulk load behind restore (keel.bulk.load_rows): what bulk_create would store, without an instance per row."""

import pytest

from keel.bulk import load_rows
from keel.contacts.models import Contact, ContactEvent

pytestmark = pytest.mark.django_db(transaction=True)


def test_new_ids_come_back_in_order_and_missing_columns_get_their_defaults(company):
    rows = [
        {"company_id": company.pk, "first_name": n, "email": f"{n}@example.com"} for n in ("Ada", "Grace", "Edsger")
    ]
    ids = load_rows(Contact, rows)
    assert [Contact.objects.get(pk=i).first_name for i in ids] == ["Ada", "Grace", "Edsger"]
    stored, expected = Contact.objects.get(pk=ids[0]), Contact(company=company, first_name="Ada")
    for field in Contact._meta.concrete_fields:
        if field.primary_key or field.get_internal_type() == "DateTimeField" or field.attname == "email":
            continue
        assert getattr(stored, field.attname) == getattr(expected, field.attname), field.name
    assert stored.company_id == company.pk and stored.created_at is not None


def test_typed_values_are_stored_as_the_orm_would_store_them(company):
    [contact_id] = load_rows(
        Contact, [{"company_id": company.pk, "first_name": "Zoë 🚀", "custom_fields": {"a": [1, "b"]}}]
    )
    contact = Contact.objects.get(pk=contact_id)
    assert contact.first_name == "Zoë 🚀" and contact.custom_fields == {"a": [1, "b"]}
    event = {"company_id": company.pk, "contact_id": contact_id, "kind": "note", "title": "x"}
    [event_id] = load_rows(ContactEvent, [event])
    assert ContactEvent.objects.get(pk=event_id).contact == contact
    assert load_rows(Contact, []) == []
