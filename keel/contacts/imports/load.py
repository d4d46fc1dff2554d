"""The import's set-based statements, per database: find a batch's existing contacts in one query, load its new
contacts and their history events with a few statements, update the changed ones together.

On PostgreSQL the new contacts' ids are taken from the table's sequence in one query and the rows go in with
``COPY … FROM STDIN`` (contacts, then events): the database's own bulk-load path, inside the batch's transaction. On
SQLite they go in with multi-row ``INSERT … RETURNING id, email`` and multi-row ``INSERT`` statements. No model
instances are built: each row is a tuple of database values, and JSON and timestamps are converted as Django
would convert them (so what is stored is the same as through the ORM).
"""

import json
import time
from contextlib import contextmanager

from django.db import connection

from keel import bulk
from keel.contacts.models import Contact, ContactEvent

CONTACT_FIELDS = (
    "company_id",
    "email",
    "first_name",
    "last_name",
    "phone",
    "company_name",
    "job_title",
    "lifecycle_stage",
    "custom_fields",
    "created_at",
    "updated_at",
)
UPDATABLE = ("first_name", "last_name", "phone", "company_name", "job_title", "lifecycle_stage", "custom_fields")
EVENT_FIELDS = ("company_id", "contact_id", "kind", "title", "data", "occurred_at")
MAX_PARAMETERS = bulk.MAX_PARAMETERS


def _columns(model, names):
    quote = connection.ops.quote_name
    return ", ".join(quote(model._meta.get_field(name).column) for name in names)


def _table(model):
    return connection.ops.quote_name(model._meta.db_table)


def is_postgresql():
    return connection.vendor == "postgresql"


def db_datetime(value):
    """A datetime as the database takes it (SQLite: the naive UTC text Django stores)."""
    if is_postgresql():
        return value
    return connection.ops.adapt_datetimefield_value(value)


def db_json(value):
    return json.dumps(value)


LOOKUP_FIELDS = ("id", "email", *UPDATABLE)


def lookup_statements(company_id, emails):
    """The statements (sql, params) that find the company's contacts with these lower-cased addresses."""
    # SQLite's planner, left alone, walks all the company's contacts by the (company, email) index instead.
    hint = "" if is_postgresql() else " INDEXED BY contact_search_email"
    emails = list(emails)
    if is_postgresql():
        # One index search per address (a join with the list), not one scan with the whole list as a filter: the
        # planner then needs no statistics of the e-mail expression to prefer the index.
        yield (
            f"SELECT {_columns(Contact, LOOKUP_FIELDS)} FROM unnest(%s::text[]) AS k(key) "  # noqa: S608
            f'JOIN {_table(Contact)} ON company_id = %s AND (LOWER(email) COLLATE "C") = k.key',
            [emails, company_id],
        )
        return
    select = f"SELECT {_columns(Contact, LOOKUP_FIELDS)} FROM {_table(Contact)}{hint} WHERE company_id = %s AND "  # noqa: S608
    step = MAX_PARAMETERS - 1
    for start in range(0, len(emails), step):
        chunk = emails[start : start + step]
        yield select + f'LOWER("email") IN ({", ".join(["%s"] * len(chunk))})', [company_id, *chunk]


def find_contacts(company_id, emails):
    """The company's contacts with these (lower-cased) addresses, whatever the case they are stored in: dicts of
    ``id``, ``email`` and the updatable fields, by lower-cased address. One query, answered by the
    ``contact_search_email`` index (company, lower(email))."""
    found = {}
    if not emails:
        return found
    with connection.cursor() as cursor:
        for sql, params in lookup_statements(company_id, emails):
            cursor.execute(sql, params)
            for row in cursor.fetchall():
                contact = dict(zip(LOOKUP_FIELDS, row, strict=True))
                custom = contact["custom_fields"]
                contact["custom_fields"] = json.loads(custom) if isinstance(custom, str) else custom
                found[contact["email"].lower()] = contact
    return found


def insert_contacts(rows):
    """Insert new contacts (tuples in the order of ``CONTACT_FIELDS``, database values); returns their ids in
    the same order."""
    if not rows:
        return []
    if is_postgresql():
        ids = bulk.reserve_ids(Contact, len(rows))
        bulk.copy_values(Contact, ("id", *CONTACT_FIELDS), ((pk, *row) for pk, row in zip(ids, rows, strict=True)))
        return ids
    by_email = dict(
        (email, pk) for pk, email in bulk.insert_values(Contact, CONTACT_FIELDS, rows, returning=("id", "email"))
    )
    return [by_email[row[1]] for row in rows]


def insert_events(rows):
    """Insert history events (tuples in the order of ``EVENT_FIELDS``, database values)."""
    if not rows:
        return
    if is_postgresql():
        bulk.copy_values(ContactEvent, EVENT_FIELDS, rows)
    else:
        bulk.insert_values(ContactEvent, EVENT_FIELDS, rows)


def update_contacts(rows):
    """Update the updatable fields and ``updated_at`` of existing contacts: tuples (id, *UPDATABLE values,
    updated_at), database values. PostgreSQL: one ``UPDATE … FROM (VALUES …)`` per chunk; SQLite: executemany."""
    if not rows:
        return
    names = (*UPDATABLE, "updated_at")
    quote = connection.ops.quote_name
    columns = [quote(Contact._meta.get_field(name).column) for name in names]
    with connection.cursor() as cursor:
        if not is_postgresql():
            assignments = ", ".join(f"{column} = %s" for column in columns)
            sql = f"UPDATE {_table(Contact)} SET {assignments} WHERE id = %s"  # noqa: S608
            cursor.executemany(sql, [(*row[1:], row[0]) for row in rows])
            return
        types = ["bigint", *("text" for _ in UPDATABLE[:-1]), "jsonb", "timestamptz"]
        marks = "(" + ", ".join(f"%s::{t}" for t in types) + ")"
        per_statement = max(1, min(1000, MAX_PARAMETERS // len(types)))
        assignments = ", ".join(f"{column} = v.{column}" for column in columns)
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            cursor.execute(
                f"UPDATE {_table(Contact)} AS c SET {assignments} "  # noqa: S608
                f"FROM (VALUES {', '.join([marks] * len(chunk))}) AS v(id, {', '.join(columns)}) WHERE c.id = v.id",
                [value for row in chunk for value in row],
            )


# PostgreSQL plans the lookup of a batch's addresses from its statistics of the contacts table. For a company that
# is growing through this very import they are stale (it had no contacts when they were last gathered), and the
# planner, believing the company has none, walks all of its contacts by a company-only index for every batch:
# the import slows down with every batch. So the import gathers them again each time its company's contacts have
# doubled since the last time (from STATISTICS_FIRST rows on): a handful of ANALYZEs of the company column alone
# (each samples a fixed number of rows: about 0.1 s), however large the file.
STATISTICS_FIRST = 10_000


def refresh_statistics(created_before, created_after):
    """After a committed batch that took the import's created contacts from ``created_before`` to
    ``created_after``: ANALYZE the contacts table when the count has just passed STATISTICS_FIRST × 2^k."""
    if not is_postgresql() or created_after < STATISTICS_FIRST:
        return
    mark = STATISTICS_FIRST
    while mark * 2 <= created_after:
        mark *= 2
    if created_before < mark <= created_after:
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {_table(Contact)} (company_id)")


# SQLite, for the import's connection while it writes: a batch of contacts changes pages all over each secondary
# index (by e-mail, by name, ...). With SQLite's default 2 MB page cache they are read again from the file for
# every batch; 64 MB keeps them in memory between batches (memory bounded, whatever the size of the file). And
# the automatic checkpoint, which runs inside a commit and copies the write-ahead log back into the database
# every 1,000 pages (after nearly every batch), is replaced by a checkpoint between batches every two seconds, so
# that an index page changed by many batches is copied back once, and never while the write lock is held.
SQLITE_CACHE_KIB = 65536
SQLITE_CHECKPOINT_SECONDS = 2.0


@contextmanager
def write_settings():
    """The connection's settings while an import writes its batches (SQLite: see above). Yields a function to
    call between batches, outside their transactions."""
    if is_postgresql():
        yield lambda: None
        return
    pragmas = {"cache_size": -SQLITE_CACHE_KIB, "wal_autocheckpoint": 0}
    previous = {}
    with connection.cursor() as cursor:
        for pragma, value in pragmas.items():
            cursor.execute(f"PRAGMA {pragma}")
            previous[pragma] = cursor.fetchone()[0]
            cursor.execute(f"PRAGMA {pragma} = {int(value)}")
    last = [time.monotonic()]

    def between_batches():
        if time.monotonic() - last[0] >= SQLITE_CHECKPOINT_SECONDS:
            _checkpoint()
            last[0] = time.monotonic()

    try:
        yield between_batches
    finally:
        with connection.cursor() as cursor:
            for pragma, value in previous.items():
                cursor.execute(f"PRAGMA {pragma} = {int(value)}")
        _checkpoint()


def _checkpoint():
    if connection.in_atomic_block:
        return  # only outside a transaction (never the case in a job; tests run inside one)
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
