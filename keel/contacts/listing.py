"""The contacts list: filters (search, lifecycle stage, tag, list), sort orders and totals (docs/crm.md, "Sorting,
filters and totals").

Every sort is a keyset on (sort key, id), answered by an index on (company, sort key[, id]), so a deep page reads
as few index entries as the first. A page cursor stays a contact id, as everywhere in Keel: the sort key of the row
a page continues from is read from that row (one primary-key lookup).
"""

import json
from dataclasses import dataclass

from django.db import connection
from django.db.models import Exists, F, OuterRef
from django.db.models.fields.tuple_lookups import Tuple, TupleGreaterThan, TupleLessThan

from keel.contacts.lookups import SearchKey
from keel.contacts.models import Contact, ContactList, ContactTag, ListMembership, Tag
from keel.contacts.search import KeysetPage, search_contacts, search_page
from keel.errors import InvalidInput
from keel.tenancy import tenant_get

# Each sort's key: an expression an index of Contact starts with (after the company); see models.py.
SORT_KEYS = {
    "name": (SearchKey("first_name"), SearchKey("last_name")),
    "email": (SearchKey("email"),),
    "company": (SearchKey("company_name"),),
    "stage": (F("lifecycle_stage"),),
    "created": (F("created_at"),),
}
SORTS = ("id", *SORT_KEYS, *(f"-{name}" for name in SORT_KEYS))
SORT_LABELS = {"name": "Name", "email": "E-mail", "company": "Company", "stage": "Stage", "created": "Created"}

# A total up to this is counted exactly; above it, see contact_total().
COUNT_BOUND = 10_000


@dataclass
class ContactFilter:
    q: str = ""
    stage: str = ""
    tag: Tag | None = None
    contact_list: ContactList | None = None

    @property
    def is_empty(self):
        return not (self.q.strip() or self.stage or self.tag or self.contact_list)

    def as_params(self):
        """The filter as query-string parameters (for page links and the "all matching" forms)."""
        params = {"q": self.q.strip(), "stage": self.stage}
        params["tag_id"] = self.tag.pk if self.tag else ""
        params["list_id"] = self.contact_list.pk if self.contact_list else ""
        return {name: value for name, value in params.items() if value not in ("", None)}


def parse_filter(company, q="", stage="", tag_id=None, list_id=None):
    """A ContactFilter from request values; an unknown stage is 422, another company's tag or list 404."""
    stage = (stage or "").strip()
    if stage and stage not in Contact.Stage.values:
        raise InvalidInput(
            f"The lifecycle stage must be one of: {', '.join(Contact.Stage.values)}.",
            field="stage",
            choices=Contact.Stage.values,
        )
    return ContactFilter(
        q=q or "",
        stage=stage,
        tag=tenant_get(company, Tag, pk=tag_id) if tag_id is not None else None,
        contact_list=tenant_get(company, ContactList, pk=list_id) if list_id is not None else None,
    )


def check_sort(sort):
    sort = sort or "id"
    if sort not in SORTS:
        raise InvalidInput(f"The sort must be one of: {', '.join(SORTS)}.", field="sort", choices=list(SORTS))
    return sort


def filtered_contacts(company, contact_filter, with_search=True):
    """The company's contacts matching the filter (stage, tag, list; and the search when ``with_search``)."""
    contacts = Contact.objects.filter(company=company)
    if contact_filter.stage:
        contacts = contacts.filter(lifecycle_stage=contact_filter.stage)
    if contact_filter.tag:
        links = ContactTag.objects.filter(tag=contact_filter.tag, contact_id=OuterRef("pk"))
        contacts = contacts.filter(Exists(links))
    if contact_filter.contact_list:
        members = ListMembership.objects.filter(contact_list=contact_filter.contact_list, contact_id=OuterRef("pk"))
        contacts = contacts.filter(Exists(members))
    if with_search:
        contacts = search_contacts(contacts, contact_filter.q)
    return contacts


def contacts_page(company, contact_filter, sort="id", after=None, before=None, limit=50, want_previous=True):
    """One page of the filtered contacts in the given order."""
    sort = check_sort(sort)
    if sort == "id":
        base = filtered_contacts(company, contact_filter, with_search=False)
        return search_page(base, contact_filter.q, after=after, before=before, limit=limit, want_previous=want_previous)
    contacts = filtered_contacts(company, contact_filter)
    return _sorted_page(company, contacts, sort, after, before, limit, want_previous)


def _sorted_page(company, contacts, sort, after, before, limit, want_previous):
    descending = sort.startswith("-")
    keys = SORT_KEYS[sort.lstrip("-")]
    names = [f"sort_key_{i}" for i in range(len(keys))]
    contacts = contacts.alias(**dict(zip(names, keys, strict=True)))
    row_key = Tuple(*(F(name) for name in names), F("id"))
    forward = [f"-{name}" if descending else name for name in [*names, "id"]]
    backward = [name[1:] if name.startswith("-") else f"-{name}" for name in forward]
    anchor = before if before is not None else after
    if anchor is not None:
        anchor_key = _anchor_key(company, keys, anchor, "before" if before is not None else "after")
        going_up = (before is None) != descending  # rows with a greater key than the anchor
        lookup = TupleGreaterThan if going_up else TupleLessThan
        contacts = contacts.filter(lookup(row_key, anchor_key))
    if before is not None:
        rows = list(contacts.order_by(*backward)[: limit + 1])
        items = list(reversed(rows[:limit]))
        has_next, has_previous = bool(items), len(rows) > limit
    else:
        rows = list(contacts.order_by(*forward)[: limit + 1])
        items = rows[:limit]
        has_next, has_previous = len(rows) > limit, want_previous and after is not None
    return KeysetPage(
        items=items,
        next_after=items[-1].id if has_next and items else None,
        prev_before=(items[0].id if items else before) if has_previous else None,
    )


def _anchor_key(company, keys, anchor_id, field):
    """The sort key of the row a page continues from: read from the company's contacts, filters aside (a bulk
    action may have taken that row out of the filter since)."""
    names = [f"anchor_key_{i}" for i in range(len(keys))]
    row = (
        Contact.objects.filter(company=company, pk=anchor_id)
        .annotate(**dict(zip(names, keys, strict=True)))
        .values_list(*names)
        .first()
    )
    if row is None:
        raise InvalidInput(
            "The contact this page continued from no longer exists; start again from the first page.",
            field=field,
            code="page_anchor_gone",
        )
    return [*row, anchor_id]


# --- totals ---------------------------------------------------------------------------------------------------


@dataclass
class Total:
    value: int
    relation: str  # "eq": exact; "gte": at least `value`; "about": the planner's estimate

    def as_dict(self):
        return {"value": self.value, "relation": self.relation}

    def __str__(self):
        """For people: "1,234", "about 1,000,000", "more than 10,000"."""
        prefix = {"eq": "", "about": "about ", "gte": "more than "}[self.relation]
        return f"{prefix}{self.value:,}"

    @property
    def is_one(self):
        return self.relation == "eq" and self.value == 1


def contact_total(company, contact_filter):
    """How many contacts match: exact up to COUNT_BOUND, read with a count that stops there. Above it, the
    unfiltered total on PostgreSQL is the planner's estimate for the company ("about"); a filtered one, and any
    on SQLite, is "more than COUNT_BOUND" ("gte"): counting further would read every matching row."""
    matching = filtered_contacts(company, contact_filter)
    bounded = matching.values("id")[: COUNT_BOUND + 1].count()
    if bounded <= COUNT_BOUND:
        return Total(bounded, "eq")
    if contact_filter.is_empty and connection.vendor == "postgresql":
        estimate = _planner_estimate(company)
        if estimate > COUNT_BOUND:
            return Total(estimate, "about")
    return Total(COUNT_BOUND, "gte")


def _planner_estimate(company):
    """The planner's row estimate for the company's contacts (from its statistics: no row is read)."""
    query = Contact.objects.filter(company=company).values("id")
    sql, params = query.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])
