"""Raw database access for the generator and the baselines: bulk inserts, counts, one-statement deletes.

Everything here talks to the DB-API connection under Django's, so that the generator and the baselines pay no ORM
cost: ``executemany`` in big transactions on SQLite, ``COPY … FROM STDIN`` on PostgreSQL.
"""

import os
from contextlib import contextmanager

from django.db import connection, transaction

from keel.datacontrol import graph


def vendor():
    return connection.vendor


def raw_connection():
    connection.ensure_connection()
    return connection.connection


def table(model):
    return model._meta.db_table


def column(model, name):
    return model._meta.get_field(name).column


def quote(name):
    return connection.ops.quote_name(name)


def placeholder():
    return "?" if vendor() == "sqlite" else "%s"


@contextmanager
def write_transaction(trusted=False):
    """One transaction on Django's connection (BEGIN IMMEDIATE on SQLite), used with the raw cursor inside.

    ``trusted`` is for the generator and for clean-up between scenarios, never for a measured baseline: on
    PostgreSQL it skips the foreign-key triggers for rows whose consistency the generator guarantees itself
    (as ``pg_restore --disable-triggers`` does), and on SQLite it gives the load a bigger page cache.
    """
    with transaction.atomic():
        cursor = raw_connection().cursor()
        if trusted and vendor() == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")
        elif trusted:
            cursor.execute("PRAGMA cache_size = -512000")
        yield cursor


def bulk_insert(model, fields, rows):
    """Insert ``rows`` (tuples in the order of ``fields``, already adapted to the database) into ``model``'s table.

    Call inside ``write_transaction()``: the caller decides how many rows one transaction holds.
    """
    columns = [column(model, f) for f in fields]
    if vendor() == "postgresql":
        names = ", ".join(quote(c) for c in columns)
        with raw_connection().cursor() as cursor:
            from psycopg.copy import QueuedLibpqWriter

            # A writer thread ships each block while this thread formats the next: the server and Python overlap.
            sql = f"COPY {quote(table(model))} ({names}) FROM STDIN"
            with cursor.copy(sql, writer=QueuedLibpqWriter(cursor)) as copy:
                for row in rows:
                    copy.write_row(row)
        return
    names = ", ".join(quote(c) for c in columns)
    marks = ", ".join("?" for _ in columns)
    sql = f"INSERT INTO {quote(table(model))} ({names}) VALUES ({marks})"  # noqa: S608 (names from the model)
    raw_connection().cursor().executemany(sql, rows)


def next_id(model):
    """The first free primary key of a table (the generator assigns ids itself to link children to parents)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {quote(table(model))}")  # noqa: S608 (table name)
        return cursor.fetchone()[0] + 1


def reset_sequences(models):
    """After inserting explicit ids on PostgreSQL, move each identity sequence past the highest id."""
    if vendor() != "postgresql":
        return  # SQLite's AUTOINCREMENT bookkeeping follows explicit ids by itself
    with connection.cursor() as cursor:
        for model in models:
            name = table(model)
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence(%s, 'id'), GREATEST(COALESCE(MAX(id), 0), 1)) "  # noqa: S608
                f"FROM {quote(name)}",
                [name],
            )


def count_company_rows(company_id, models):
    """Rows per model for one company, by the indexed company column."""
    counts = {}
    with connection.cursor() as cursor:
        for model in models:
            cursor.execute(
                f"SELECT COUNT(*) FROM {quote(table(model))} WHERE company_id = %s",  # noqa: S608
                [company_id],
            )
            counts[graph.label(model)] = cursor.fetchone()[0]
    return counts


def delete_company_rows(company_id, models, include_company=False, trusted=False):
    """One ``DELETE … WHERE company_id = ?`` per table, children first, all in one transaction (the raw baseline)."""
    with write_transaction(trusted=trusted) as cursor:
        mark = placeholder()
        for model in graph.deletion_order(models):
            cursor.execute(f"DELETE FROM {quote(table(model))} WHERE company_id = {mark}", [company_id])  # noqa: S608
        if include_company:
            from keel.accounts.models import Company

            cursor.execute(f"DELETE FROM {quote(table(Company))} WHERE id = {mark}", [company_id])  # noqa: S608


def checkpoint():
    """Fold the write-ahead log back into the database between scenarios, so each starts alike.

    PostgreSQL's CHECKPOINT flushes the whole server, so a --quick run (routine checks, tests) skips it there.
    """
    if vendor() == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    elif not os.environ.get("KEEL_BENCH_QUICK"):
        with connection.cursor() as cursor:
            cursor.execute("CHECKPOINT")
