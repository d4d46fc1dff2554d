"""Bulk deletion of a company's rows and stored files (docs/crm-deletion.md, "How it works (operators)").

Used by the deletion run (``keel.datacontrol.deletion``) of "Delete all CRM records" and of company deletion.
``QuerySet.delete()`` is never used here: it collects every cascaded row in memory and deletes them one by one
when signals or Python-level cascades are involved. Instead each table is emptied with raw, parameterised range
deletes on the ``(company_id, id)`` index:

* tables go children before parents (``graph.deletion_order``), so a batch only removes rows nothing points at
  any more, and the database's own foreign-key checks never find a dangling reference;
* each batch is its own short write transaction that also stores the job's progress and heartbeat, so a crash
  loses at most one uncommitted batch and leaves nothing half-done;
* every statement is re-queryable ("delete what is left"), so running the whole thing again after a crash at any
  point reaches the same end state;
* memory is flat: no row is ever loaded into Python, only the boundary id of the next batch.
"""

import time
from contextlib import contextmanager

from django.conf import settings
from django.db import connection, transaction

from keel import storage
from keel.datacontrol import graph


def _table(model):
    return connection.ops.quote_name(model._meta.db_table)


def _company_column(model):
    return connection.ops.quote_name(model._meta.get_field("company").column)


def _pk_column(model):
    return connection.ops.quote_name(model._meta.pk.column)


def count_rows(company_id, models):
    """Rows of the company in each table, keyed by entity name (``contact_events``, ...)."""
    counts = {}
    with connection.cursor() as cursor:
        for model in models:
            # Identifiers come from model metadata through quote_name; values are parameters.
            cursor.execute(
                f"SELECT COUNT(*) FROM {_table(model)} WHERE {_company_column(model)} = %s",  # noqa: S608
                [company_id],
            )
            counts[graph.entity_name(model)] = cursor.fetchone()[0]
    return counts


def remaining_rows(company_id, models):
    """Only the tables that still hold rows of the company: ``{}`` means everything is gone."""
    return {name: n for name, n in count_rows(company_id, models).items() if n}


# A batch should hold the write lock for well under 100 ms, so that other tenants' writes never wait long.
BATCH_TARGET_SECONDS = 0.07


# For the batch transaction only. A batch lost in a crash is simply deleted again on resume, so its commit need
# not wait for the disk: this keeps many small transactions close to one big DELETE. And the batch boundary must
# come from walking the (company, id) index in order; with stale statistics the planner would otherwise gather
# and sort every remaining row of the company for each batch, which turns the deletion quadratic.
POSTGRES_BATCH_SETTINGS = (
    "SET LOCAL synchronous_commit = off; SET LOCAL enable_sort = off; SET LOCAL enable_bitmapscan = off"
)


def erase_rows(company_id, models, progress=None, batch_size=None, target_seconds=BATCH_TARGET_SECONDS):
    """Delete every row of the company in ``models``, children first, in short batches. Returns rows per entity.

    ``progress`` (a ``keel.jobs.progress.Progress``) is advanced, saved and checkpointed inside each batch's
    transaction, so the stored progress always matches what was really deleted, and a cancelled or taken-over job
    rolls back the batch it was in rather than deleting behind the new owner's back.

    ``batch_size`` (default ``KEEL_BATCH_SIZE``) is the most rows one batch deletes; below it, the size follows the
    measured duration of each batch so that it stays near ``target_seconds`` (``None`` keeps it fixed).
    """
    batch_size = int(batch_size or settings.KEEL_BATCH_SIZE)
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    deleted = {}
    checkpoints = WalCheckpoints()
    with _sqlite_bulk_settings():
        for model in graph.deletion_order(models):
            name = graph.entity_name(model)
            if progress is not None:
                progress.step(f"Deleting {name.replace('_', ' ')}")
            sizer = BatchSizer(model, batch_size, target_seconds)
            deleted[name] = _erase_table(company_id, model, progress, sizer, checkpoints)
    return deleted


# SQLite, for this connection while it erases. A batch of contacts touches pages all over each secondary index (by
# e-mail, by name), and every commit appends each page it changed to the write-ahead log. A larger page cache keeps
# those pages in memory between batches; and instead of the automatic checkpoint, which runs inside a commit and
# copies the log back after almost every batch, the eraser checkpoints between batches, every two seconds, so
# that a page changed by many batches is copied back once, and never while holding the write lock.
SQLITE_BULK_PRAGMAS = {"cache_size": -65536, "wal_autocheckpoint": 0}
SQLITE_CHECKPOINT_SECONDS = 2.0


@contextmanager
def _sqlite_bulk_settings():
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        previous = {}
        for pragma, value in SQLITE_BULK_PRAGMAS.items():
            cursor.execute(f"PRAGMA {pragma}")
            previous[pragma] = cursor.fetchone()[0]
            cursor.execute(f"PRAGMA {pragma} = {int(value)}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            for pragma, value in previous.items():
                cursor.execute(f"PRAGMA {pragma} = {int(value)}")
        _checkpoint()


class WalCheckpoints:
    """Checkpoints SQLite's write-ahead log between batches, at most once per SQLITE_CHECKPOINT_SECONDS."""

    def __init__(self):
        self.last = time.monotonic()

    def between_batches(self):
        if connection.vendor == "sqlite" and time.monotonic() - self.last >= SQLITE_CHECKPOINT_SECONDS:
            _checkpoint()
            self.last = time.monotonic()


def _checkpoint():
    if connection.in_atomic_block:
        return  # only outside a transaction (never the case in a job; tests run inside one)
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")


class BatchSizer:
    """Keeps each batch's transaction near the target duration, whatever a row of this table costs to delete.

    Deleting a row that other tables reference costs one foreign-key check per referencing table (PostgreSQL runs
    them at commit; on SQLite each batch also rewrites the pages of the table's secondary indexes it touches), so
    such tables start with proportionally smaller batches; then each batch's measured time shrinks or grows the
    next one, between MINIMUM_BATCH rows and the configured size.
    """

    # Below this, a batch's fixed cost (commit, progress row) dominates: smaller batches would only be slower, and
    # on a machine slowed by I/O a sizer without a floor shrinks to one row and never grows back.
    MINIMUM_BATCH = 100

    def __init__(self, model, batch_size, target_seconds):
        self.target = target_seconds
        self.maximum = batch_size
        referencing = sum(1 for rel in model._meta.related_objects if rel.one_to_many or rel.one_to_one)
        self.minimum = min(self.MINIMUM_BATCH, batch_size)
        self.size = max(self.minimum, batch_size // (1 + referencing)) if target_seconds else batch_size

    def measured(self, rows, seconds):
        if not self.target or rows < self.size:
            return  # a table's last, partial batch says nothing about the right size
        # Towards the size that takes the target time, damped (square root) so that one slow batch on a busy
        # machine does not halve the next ones, and never more than doubling or halving at once.
        factor = min(2.0, max(0.5, (self.target / max(seconds, 1e-6)) ** 0.5))
        self.size = min(self.maximum, max(self.minimum, int(self.size * factor)))


def _erase_table(company_id, model, progress, sizer, checkpoints):
    """Passes of keyset batches over the table until no row of the company is left.

    The keyset (``id > last boundary``) keeps every batch an index range scan that starts where the previous one
    ended, instead of re-walking the entries of rows already deleted. A row inserted meanwhile with an id behind
    the boundary is caught by another pass; whether one is needed is asked with a read, so the closing check
    never holds the write lock (on PostgreSQL it may walk many dead index entries before vacuum).
    """
    total = 0
    while True:
        after = None
        while True:
            started = time.perf_counter()
            n, after, more = _erase_batch(company_id, model, after, progress, sizer.size)
            sizer.measured(n, time.perf_counter() - started)
            checkpoints.between_batches()
            total += n
            if not more:
                break
        if not _rows_left(company_id, model):
            return total


def _rows_left(company_id, model):
    table, company = _table(model), _company_column(model)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {table} WHERE {company} = %s LIMIT 1", [company_id])  # noqa: S608
        return cursor.fetchone() is not None


def _erase_batch(company_id, model, after, progress, batch_size):
    """One short transaction: delete the next ``batch_size`` rows by id. Returns (deleted, boundary, more)."""
    table, company, pk = _table(model), _company_column(model), _pk_column(model)
    lower, lower_params = (f" AND {pk} > %s", [after]) if after is not None else ("", [])
    with transaction.atomic():
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(POSTGRES_BATCH_SETTINGS)
            # The id of the batch's last row: an index-only walk over at most batch_size entries.
            cursor.execute(
                f"SELECT {pk} FROM {table} WHERE {company} = %s{lower} ORDER BY {pk} LIMIT 1 OFFSET %s",  # noqa: S608
                [company_id, *lower_params, batch_size - 1],
            )
            row = cursor.fetchone()
            upper, upper_params = (f" AND {pk} <= %s", [row[0]]) if row else ("", [])
            cursor.execute(
                f"DELETE FROM {table} WHERE {company} = %s{lower}{upper}",  # noqa: S608
                [company_id, *lower_params, *upper_params],
            )
            deleted = max(cursor.rowcount, 0)
        if progress is not None:
            progress.advance(deleted)
            progress.save()
            progress.checkpoint()
    return deleted, (row[0] if row else after), row is not None


# --- stored files (``keel.storage`` walks and deletes them) ----------------------------------------------------


def erase_files(company_id, folder=None):
    """Delete the company's stored files (all of them, or those under one sub-folder) and the emptied folders.
    Idempotent; returns how many files were deleted."""
    return storage.delete_folder(storage.company_folder(company_id, folder))


def count_files(company_id, folder=None):
    """How many stored files the company has (under one sub-folder, if given), counted without listing them all."""
    return sum(1 for _ in storage.walk_files(storage.company_folder(company_id, folder)))


def remaining_files(company_id):
    """Names of the stored files still under the company's folder: ``[]`` means none."""
    return sorted(storage.walk_files(storage.company_folder(company_id)))
