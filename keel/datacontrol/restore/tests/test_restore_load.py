"""The restore's plain-row insert: what bulk_create would store, without an instance per row."""

import pytest

from keel.contacts.models import Contact, ContactEvent
from keel.datacontrol.restore.load import insert_rows

pytestmark = pytest.mark.django_db(transaction=True)


def test_new_ids_come_back_in_order_and_missing_columns_get_their_defaults(company):
    rows = [{"first_name": name, "email": f"{name}@example.com"} for name in ("Ada", "Grace", "Edsger")]
    ids = insert_rows(Contact, company.pk, rows)
    assert [Contact.objects.get(pk=i).first_name for i in ids] == ["Ada", "Grace", "Edsger"]
    stored, expected = Contact.objects.get(pk=ids[0]), Contact(company=company, first_name="Ada")
    for field in Contact._meta.concrete_fields:
        if field.primary_key or field.get_internal_type() == "DateTimeField" or field.attname == "email":
            continue
        assert getattr(stored, field.attname) == getattr(expected, field.attname), field.name
    assert stored.company_id == company.pk and stored.created_at is not None


def test_typed_values_are_stored_as_the_orm_would_store_them(company):
    [contact_id] = insert_rows(Contact, company.pk, [{"first_name": "Zoë 🚀", "custom_fields": {"a": [1, "b"]}}])
    contact = Contact.objects.get(pk=contact_id)
    assert contact.first_name == "Zoë 🚀" and contact.custom_fields == {"a": [1, "b"]}
    [event_id] = insert_rows(ContactEvent, company.pk, [{"contact_id": contact_id, "kind": "note", "title": "x"}])
    assert ContactEvent.objects.get(pk=event_id).contact == contact
    assert insert_rows(Contact, company.pk, []) == []
