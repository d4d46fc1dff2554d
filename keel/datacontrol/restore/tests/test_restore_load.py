"""The bulk load behind restore (keel.bulk.load_rows): what bulk_create would store, without an instance per row."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from keel.bulk import JSONText, load_rows
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


def test_encoded_json_is_stored_as_the_value_it_encodes(company):
    [contact_id] = load_rows(Contact, [{"company_id": company.pk, "custom_fields": JSONText('{"a": [1, "b"]}')}])
    assert Contact.objects.get(pk=contact_id).custom_fields == {"a": [1, "b"]}


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 3, 29, 3, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2))),
        datetime(2026, 3, 29, 1, 30, 15, 123456, tzinfo=UTC),
        datetime(2026, 3, 29, 1, 30, 15, tzinfo=UTC),
    ],
    ids=["paris", "utc", "utc-whole-second"],
)
def test_aware_times_in_any_zone_are_stored_as_the_orm_stores_them(company, moment):
    [loaded] = load_rows(Contact, [{"company_id": company.pk, "created_at": moment}])
    by_orm = Contact.objects.create(company=company)
    Contact.objects.filter(pk=by_orm.pk).update(created_at=moment)
    stored = Contact.objects.get(pk=loaded).created_at
    assert stored == Contact.objects.get(pk=by_orm.pk).created_at == moment.astimezone(UTC)
    assert Contact.objects.filter(pk=loaded, created_at__gte=moment, created_at__lte=moment).exists()
