"""Finding contacts: prefix search by name or e-mail, and keyset pages that stay fast at millions of rows.

No page view counts the table and no query uses OFFSET: a page is "the next N ids after this one", which an
index on (company, id) answers by reading N entries, however deep the page.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import Q

from keel.contacts.lookups import SearchKey
from keel.contacts.models import Contact, ContactEvent
from keel.errors import InvalidInput

MAX_QUERY_LENGTH = 200


def prefix_range(prefix):
    """The half-open range [prefix, upper) holding exactly the strings that start with ``prefix`` (code point order)."""
    last = prefix[-1]
    if ord(last) >= 0x10FFFF:
        return prefix, prefix + chr(0x10FFFF)
    return prefix, prefix[:-1] + chr(ord(last) + 1)


def fold(text):
    """What SearchKey stores for ``text``: lower case (SQLite's LOWER folds ASCII letters only)."""
    return text.strip().lower()


SEARCH_WINDOW = 2000  # contacts scanned in id order before the search indexes are asked (see search_page)
KEY_FIELDS = {"email": "email_key", "first_name": "first_key", "last_name": "last_key"}


def _match_terms(query):
    """What "starts with" means for a query: (field, prefix) pairs, any of which may match; a pair of pairs must
    match together ("ann lee": first name "ann…" and last name "lee…")."""
    terms = [(("email", query),)]
    if "@" not in query:
        terms += [(("first_name", query),), (("last_name", query),)]
        first, _, rest = query.partition(" ")
        if rest.strip():
            terms.append((("first_name", first), ("last_name", rest.strip())))
    return terms


def _with_keys(queryset):
    return queryset.alias(**{alias: SearchKey(field) for field, alias in KEY_FIELDS.items()})


def _range(field, prefix):
    low, high = prefix_range(prefix)
    return Q(**{f"{KEY_FIELDS[field]}__gte": low, f"{KEY_FIELDS[field]}__lt": high})


def _term_condition(term):
    condition = Q()
    for field, prefix in term:
        condition &= _range(field, prefix)
    return condition


def _matching_ids(queryset, terms):
    """``id IN (range UNION ALL range ...)``: each part is one range on a search index, so the cost follows the
    number of matches, never the size of the company (an OR of the same ranges makes planners walk every row)."""
    parts = [_with_keys(queryset).filter(_term_condition(term)).values("id") for term in terms]
    return parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]


def search_contacts(queryset, query):
    """Contacts whose e-mail, first name or last name starts with ``query`` (case-insensitive); "ann lee" also
    finds first name "Ann…" with last name "Lee…"."""
    query = fold(query)[:MAX_QUERY_LENGTH]
    if not query:
        return queryset
    return queryset.filter(id__in=_matching_ids(queryset, _match_terms(query)))


def search_page(queryset, query, after=None, before=None, limit=50, want_previous=True):
    """A keyset page of the contacts matching ``query``, fast for common and rare terms alike.

    First the next SEARCH_WINDOW contacts in page order are checked directly: a common term finds its page there
    after reading a few thousand index entries. Only when the window holds less than a page are the search
    indexes asked, and then the term is rare enough for its matches to be few.
    """
    query = fold(query)[:MAX_QUERY_LENGTH]
    if not query:
        return keyset_page(queryset, after=after, before=before, limit=limit, want_previous=want_previous)
    terms = _match_terms(query)
    any_term = Q()
    for term in terms:
        any_term |= _term_condition(term)

    def fetch(nearby, order, count):
        window = nearby.order_by(order).values("id")[:SEARCH_WINDOW]
        rows = list(_with_keys(queryset).filter(id__in=window).filter(any_term).order_by(order)[:count])
        if len(rows) < count:
            rows = list(nearby.filter(id__in=_matching_ids(queryset, terms)).order_by(order)[:count])
        return rows

    return keyset_page(queryset, after=after, before=before, limit=limit, want_previous=want_previous, fetch=fetch)


@dataclass
class KeysetPage:
    items: list
    next_after: int | None  # pass as ?after= for the next page
    prev_before: int | None  # pass as ?before= for the previous page


def _first_rows(nearby, order, count):
    return list(nearby.order_by(order)[:count])


def keyset_page(queryset, after=None, before=None, limit=50, want_previous=True, fetch=_first_rows):
    """One page of ``queryset`` in ascending id order: the ids after ``after`` or, going back, the ``limit`` ids
    just before ``before``. One query reading at most limit + 1 rows. A page reached with ``after`` offers a
    previous link without checking that one exists: it was reached from there."""
    if before is not None:
        rows = fetch(queryset.filter(id__lt=before), "-id", limit + 1)
        items = list(reversed(rows[:limit]))
        has_next, has_previous = bool(items), len(rows) > limit
        first_id = items[0].id if items else before
    else:
        rest = queryset if after is None else queryset.filter(id__gt=after)
        rows = fetch(rest, "id", limit + 1)
        items = rows[:limit]
        has_next = len(rows) > limit
        has_previous = want_previous and after is not None
        first_id = items[0].id if items else (after or 0) + 1
    return KeysetPage(
        items=items,
        next_after=items[-1].id if has_next else None,
        prev_before=first_id if has_previous else None,
    )


def company_contacts(company):
    return Contact.objects.filter(company=company)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def timeline_cursor(event):
    micros = (event.occurred_at - EPOCH) // timedelta(microseconds=1)
    return f"{micros}_{event.id}"


def parse_timeline_cursor(cursor):
    try:
        micros, event_id = cursor.split("_")
        return EPOCH + timedelta(microseconds=int(micros)), int(event_id)
    except (ValueError, OverflowError):
        raise InvalidInput(
            "The “before” cursor is not valid; use the value a previous page returned.", field="before"
        ) from None


@dataclass
class TimelinePage:
    items: list
    next_before: str | None  # cursor of the next (older) page


def timeline_page(contact, before=None, limit=25):
    """A contact's history, newest first, ``limit`` events older than the ``before`` cursor."""
    events = ContactEvent.objects.filter(company_id=contact.company_id, contact=contact)
    if before:
        occurred_at, event_id = parse_timeline_cursor(before)
        events = events.filter(Q(occurred_at__lt=occurred_at) | Q(occurred_at=occurred_at, id__lt=event_id))
    rows = list(events.order_by("-occurred_at", "-id")[: limit + 1])
    items = rows[:limit]
    return TimelinePage(items=items, next_before=timeline_cursor(items[-1]) if len(rows) > limit else None)
