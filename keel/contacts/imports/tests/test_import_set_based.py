"""The import's set-based writes (load.py), on whichever database the tests run on: batches that mix new
addresses, addresses named twice, existing contacts stored in another case and bad rows; the lookup's index; and
a contact created meanwhile failing the batch as an IntegrityError, which the job retries."""

from datetime import UTC, datetime

import pytest
from django.db import IntegrityError, connection, transaction

from keel.contacts.imports import load
from keel.contacts.imports.tests.helpers import import_now, report_rows
from keel.contacts.models import Contact, ContactEvent, ContactTag

# Batches of 4 rows: duplicates, case-insensitive matches and errors fall inside one batch and across two.
MIXED = (
    "email,first name,company,stage,tags,plan,created at\n"
    "new1@example.com,One,Acme,lead,red,gold,2020-01-02T03:04:05Z\n"  # line 2: created
    "MIXED@example.com,Mixed,,customer,Blue,,\n"  # line 3: updates the contact stored as Mixed@Example.COM
    "bad-address,Bad,,,,,\n"  # line 4: refused
    "new1@EXAMPLE.com,Uno,,,green,,\n"  # line 5: the same address again in the same batch: an update
    "new2@example.com,Two,=1+2,,,silver,\n"  # line 6: a formula-looking cell stored as it is
    "new2@example.com,,,royalty,,,\n"  # line 7: refused (stage), the contact is left as line 6 made it
    "new1@example.com,,Initech,,,platinum,\n"  # line 8: a third time, in the next batch
)


@pytest.fixture
def small_batches(settings):
    settings.KEEL_BATCH_SIZE = 4


def test_a_batch_mixing_new_and_existing_addresses_duplicates_and_errors_is_written_exactly(
    api, company, small_batches
):
    existing = Contact.objects.create(
        company=company, email="Mixed@Example.COM", first_name="M.", last_name="Keep", custom_fields={"plan": "free"}
    )

    job = import_now(api, MIXED)

    assert job.state == "succeeded"
    assert (job.result["rows"], job.result["created"], job.result["updated"], job.result["errors"]) == (7, 2, 3, 2)
    contacts = {c.email: c for c in Contact.objects.filter(company=company)}
    assert set(contacts) == {"new1@example.com", "new2@example.com", "Mixed@Example.COM"}
    one, two = contacts["new1@example.com"], contacts["new2@example.com"]
    assert (one.first_name, one.company_name, one.lifecycle_stage) == ("Uno", "Initech", "lead")
    assert one.custom_fields == {"plan": "platinum"}
    assert one.created_at == datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)  # the file's creation time is kept
    assert (two.first_name, two.company_name, two.lifecycle_stage) == ("Two", "=1+2", "subscriber")
    existing.refresh_from_db()
    assert (existing.first_name, existing.last_name, existing.lifecycle_stage) == ("Mixed", "Keep", "customer")
    assert existing.custom_fields == {"plan": "free"} and existing.updated_at > existing.created_at
    assert sorted(ContactTag.objects.filter(contact=one).values_list("tag__name", flat=True)) == ["green", "red"]
    assert list(ContactTag.objects.filter(contact=existing).values_list("tag__name", flat=True)) == ["Blue"]

    events = ContactEvent.objects.filter(company=company, kind="imported").order_by("data__line")
    assert [(e.contact_id, e.data["line"], e.data["created"]) for e in events] == [
        (one.pk, 2, True),
        (existing.pk, 3, False),
        (one.pk, 5, False),
        (two.pk, 6, True),
        (one.pk, 8, False),
    ]
    assert all(e.data["job_id"] == job.pk and e.data["file"] == "contacts.csv" for e in events)
    assert all(e.title == "Imported from contacts.csv" and e.occurred_at.tzinfo for e in events)
    problems = {int(row[0]): row[1] for row in report_rows(api, job)[1:]}
    assert sorted(problems) == [4, 7]
    assert problems[4] == "“bad-address” is not a valid e-mail address."


def test_addresses_the_common_pattern_leaves_to_the_validator_are_still_checked(api, company):
    content = (
        'email\nann@localhost\n"""quoted""@example.com"\nx@[127.0.0.1]\nann@münchen.de\nann@-bad.com\na..b@x.com\n'
    )

    job = import_now(api, content)

    emails = set(Contact.objects.filter(company=company).values_list("email", flat=True))
    assert emails == {"ann@localhost", '"quoted"@example.com', "x@[127.0.0.1]", "ann@münchen.de"}
    assert job.result["errors"] == 2


def test_the_lookup_of_a_batch_uses_the_lower_case_email_index(company):
    load.refresh_statistics(0, 0)  # nothing to do below the first threshold, on any database
    stamp = load.db_datetime(datetime.now(UTC))
    load.insert_contacts(
        [
            (company.pk, f"c{i}@example.com", "", "", "", "", "", "lead", "{}", stamp, stamp)
            for i in range(1, load.STATISTICS_FIRST + 1)
        ]
    )
    # The planner's statistics are refreshed when the import's contacts double (PostgreSQL), so that the lookup
    # of each batch stays an index search instead of a walk through all of the company's contacts.
    load.refresh_statistics(load.STATISTICS_FIRST - 1, load.STATISTICS_FIRST)
    [(sql, params)] = load.lookup_statements(company.pk, [f"c{i}@example.com" for i in range(1, 2001)])

    with connection.cursor() as cursor:
        cursor.execute(("EXPLAIN " if connection.vendor == "postgresql" else "EXPLAIN QUERY PLAN ") + sql, params)
        plan = " ".join(str(row) for row in cursor.fetchall())
    assert "contact_search_email" in plan, plan
    assert len(load.find_contacts(company.pk, ["c1@example.com", "C2@EXAMPLE.COM".lower(), "none@x.com"])) == 2


def test_a_contact_created_meanwhile_fails_the_batch_with_an_integrity_error(company):
    Contact.objects.create(company=company, email="taken@example.com")
    stamp = load.db_datetime(datetime.now(UTC))
    row = (company.pk, "taken@example.com", "", "", "", "", "", "lead", "{}", stamp, stamp)

    with pytest.raises(IntegrityError), transaction.atomic():
        load.insert_contacts([row])
    assert Contact.objects.filter(company=company).count() == 1
