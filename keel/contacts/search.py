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


def _starts_with(alias, prefix):
    low, high = prefix_range(prefix)
    return Q(**{f"{alias}__gte": low, f"{alias}__lt": high})


def search_contacts(queryset, query):
    """Contacts whose e-mail, first name or last name starts with ``query`` (case-insensitive); "ann lee" also
    finds first name "Ann…" with last name "Lee…". Each condition is a range on one of the search indexes."""
    query = fold(query)[:MAX_QUERY_LENGTH]
    if not query:
        return queryset
    queryset = queryset.alias(
        email_key=SearchKey("email"), first_key=SearchKey("first_name"), last_key=SearchKey("last_name")
    )
    condition = _starts_with("email_key", query)
    if "@" not in query:
        condition |= _starts_with("first_key", query) | _starts_with("last_key", query)
        first, _, rest = query.partition(" ")
        if rest.strip():
            condition |= _starts_with("first_key", first) & _starts_with("last_key", rest.strip())
    return queryset.filter(condition)


@dataclass
class KeysetPage:
    items: list
    next_after: int | None  # pass as ?after= for the next page
    prev_before: int | None  # pass as ?before= for the previous page


def keyset_page(queryset, after=None, before=None, limit=50, want_previous=True):
    """One page of ``queryset`` in ascending id order: the ids after ``after`` or, going back, the ``limit`` ids
    just before ``before``. Reads at most limit + 1 rows, plus one indexed existence check for the previous link."""
    if before is not None:
        rows = list(queryset.filter(id__lt=before).order_by("-id")[: limit + 1])
        items = list(reversed(rows[:limit]))
        has_next, has_previous = bool(items), len(rows) > limit
        first_id = items[0].id if items else before
    else:
        rest = queryset if after is None else queryset.filter(id__gt=after)
        rows = list(rest.order_by("id")[: limit + 1])
        items = rows[:limit]
        has_next = len(rows) > limit
        has_previous = want_previous and after is not None and queryset.filter(id__lte=after).exists()
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
