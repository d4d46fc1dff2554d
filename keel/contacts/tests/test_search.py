"""Search and keyset pages: both paths of search_page (the id-ordered window and the search indexes) must
return exactly the matching contacts, in id order, forwards and backwards."""

import pytest

from keel.contacts import search
from keel.contacts.models import Contact
from keel.contacts.search import prefix_range, search_contacts, search_page
from keel.contacts.tests.factories import make_contact


def test_prefix_range_holds_exactly_the_strings_with_the_prefix():
    low, high = prefix_range("smi")
    inside = ["smi", "smith", "smi~", "smi\U0010ffff"]
    outside = ["smh", "smj", "sm", "smj0"]
    assert all(low <= s < high for s in inside)
    assert not any(low <= s < high for s in outside)


@pytest.fixture
def people(company, other_company):
    """30 contacts, every third one a Smith; and a Smith in another company."""
    made = []
    for i in range(30):
        last = "Smith" if i % 3 == 0 else "Jones"
        made.append(make_contact(company, f"p{i:02}@example.com", f"Pat{i:02}", last))
    make_contact(other_company, "smith@globex.example", "Sam", "Smith")
    return made


def walk_forward(queryset, query, limit):
    ids, after = [], None
    while True:
        page = search_page(queryset, query, after=after, limit=limit)
        ids += [c.pk for c in page.items]
        if page.next_after is None:
            return ids
        after = page.next_after


def walk_backward(queryset, query, limit, start_before):
    ids, before = [], start_before
    while before is not None:
        page = search_page(queryset, query, before=before, limit=limit)
        ids = [c.pk for c in page.items] + ids
        before = page.prev_before
    return ids


@pytest.mark.parametrize("window", [2, 3, 7, 2000])
def test_search_pages_forward_and_backward_whatever_the_window(company, people, monkeypatch, window):
    monkeypatch.setattr(search, "SEARCH_WINDOW", window)
    contacts = Contact.objects.filter(company=company)
    smiths = [c.pk for i, c in enumerate(people) if i % 3 == 0]
    assert walk_forward(contacts, "smi", limit=4) == smiths
    assert walk_backward(contacts, "SMITH", limit=4, start_before=people[-1].pk + 1) == smiths
    assert walk_forward(contacts, "pat1", limit=3) == [c.pk for c in people[10:20]]
    assert walk_forward(contacts, "p2", limit=50) == [c.pk for c in people[20:30]]  # e-mail prefix
    assert walk_forward(contacts, "pat2 smi", limit=2) == [people[21].pk, people[24].pk, people[27].pk]
    assert walk_forward(contacts, "nobody", limit=5) == []
    assert walk_forward(contacts, "", limit=10) == [c.pk for c in people]


def test_search_contacts_is_the_same_set(company, people):
    contacts = Contact.objects.filter(company=company)
    assert list(search_contacts(contacts, "smith").order_by("id").values_list("id", flat=True)) == [
        c.pk for i, c in enumerate(people) if i % 3 == 0
    ]


def test_search_is_case_insensitive_and_ignores_surrounding_spaces(company):
    ada = make_contact(company, "Ada.Lovelace@Example.com", "ADA", "lovelace")
    contacts = Contact.objects.filter(company=company)
    for query in ("ada", "  Ada  ", "LOVE", "ada.lovelace@example", "ada love"):
        assert [c.pk for c in search_page(contacts, query).items] == [ada.pk], query


def test_search_with_like_wildcards_is_literal(company):
    make_contact(company, "percent@example.com", "Per", "Cent")
    contacts = Contact.objects.filter(company=company)
    assert search_page(contacts, "%").items == []
    assert search_page(contacts, "_").items == []
