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
    """Rows of the company in each table, keyed by entity name (``contact_events``, ...), in one statement.

    One round trip whatever the number of tables: each count is a range scan of the table's ``(company, id)``
    index, and a job that only needs to know that nothing is left pays no round trip per table.
    """
    models = list(models)
    if not models:
        return {}
    # Identifiers come from model metadata through quote_name; values are parameters.
    counts = ", ".join(
        f"(SELECT COUNT(*) FROM {_table(model)} WHERE {_company_column(model)} = %s)"  # noqa: S608
        for model in models
    )
    with _index_reads() as cursor:
        cursor.execute(f"SELECT {counts}", [company_id] * len(models))
        row = cursor.fetchone()
    return {graph.entity_name(model): n for model, n in zip(models, row, strict=True)}


@contextmanager
def _index_reads():
    """A cursor whose reads walk the ``(company, id)`` indexes. On PostgreSQL, outside a caller's transaction, in
    a transaction of its own that only holds POSTGRES_INDEX_SETTINGS (it locks nothing): with stale statistics, a
    company that holds most of a table would otherwise be counted, or found gone, by scanning the whole table."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        with connection.cursor() as cursor:
            yield cursor
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(POSTGRES_INDEX_SETTINGS)
        yield cursor


def prefer_index_scans():
    """For the rest of the caller's transaction on PostgreSQL, POSTGRES_INDEX_SETTINGS: its reads of a company's
    rows, and the foreign-key checks its commit runs, walk the ``(company, id)`` indexes. A company deletion's last
    transaction counts every table and deletes the company row; with statistics that say the company holds most of
    each table, those plans were sequential scans of whole tables (5.8 s at a million contacts)."""
    if connection.vendor == "postgresql" and connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute(POSTGRES_INDEX_SETTINGS)


def remaining_rows(company_id, models):
    """Only the tables that still hold rows of the company: ``{}`` means everything is gone."""
    return {name: n for name, n in count_rows(company_id, models).items() if n}


# A batch should hold the write lock for well under 100 ms, so that other tenants' writes never wait long: the
# batches aim at this, learning from each one how long a row of each table takes to delete.
BATCH_TARGET_SECONDS = 0.04
# The most rows one batch deletes when the caller sets no size: cheap rows (history events) are deleted tens of
# thousands at a time, so that a batch's fixed cost (its commit and progress row) is small beside its work.
MAXIMUM_BATCH = 50_000

# For the batch transaction only. A batch lost in a crash is simply deleted again on resume, so its commit need
# not wait for the disk: this keeps many small transactions close to one big DELETE. And every statement must walk
# the (company, id) index in order: with stale statistics the planner would otherwise gather and sort every
# remaining row of the company for each batch, which turns the deletion quadratic, or, for a company that holds
# most of a table, scan the whole table to learn that none of its rows is left.
POSTGRES_INDEX_SETTINGS = (
    "SET LOCAL enable_sort = off; SET LOCAL enable_bitmapscan = off; SET LOCAL enable_seqscan = off"
)
POSTGRES_BATCH_SETTINGS = f"SET LOCAL synchronous_commit = off; {POSTGRES_INDEX_SETTINGS}"


def erase_rows(company_id, models, progress=None, batch_size=None, target_seconds=BATCH_TARGET_SECONDS):
    """Delete every row of the company in ``models``, children first, in short batches. Returns rows per entity.

    A batch is one transaction that deletes the next rows in deletion order, across tables: the tail of one table
    and the head of the next go together, so a small company's rows go in one or two transactions rather than one
    per table, and an empty table costs one indexed look. ``progress`` (a ``ProgressReporter``) is advanced, saved
    and checkpointed inside each batch's transaction, so the stored progress always matches what was really
    deleted, and a cancelled or taken-over job rolls back the batch it was in rather than deleting behind the new
    owner's back. A reporter with a ``tally_rows(rows_by_entity)`` method is also told which tables the batch's
    rows came from.

    ``batch_size`` (default ``MAXIMUM_BATCH``) is the most rows one batch deletes; below it, the size of each batch
    follows the measured cost of each table's rows so that a batch takes about ``target_seconds`` (``None`` keeps
    it at ``batch_size``).
    """
    batch_size = MAXIMUM_BATCH if batch_size is None else int(batch_size)
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    ordered = graph.deletion_order(models)
    walk = _Walk(company_id, ordered, progress, BatchBudget(ordered, batch_size, target_seconds))
    with _sqlite_bulk_settings():
        walk.run()
    return walk.deleted


# SQLite, for this connection while it erases. A batch of contacts touches pages all over each secondary index (by
# e-mail, by name), and every commit appends each page it changed to the write-ahead log. A larger page cache keeps
# those pages in memory between batches; and instead of the automatic checkpoint, which runs inside a commit and
# copies the log back after almost every batch, the eraser checkpoints between batches, every two seconds, so
# that a page changed by many batches is copied back once, and never while holding the write lock.
# A run that deleted fewer rows than SQLITE_CHECKPOINT_ROWS since its last checkpoint leaves its few pages to
# SQLite's own automatic checkpoint, as any other write of that size does, rather than making the job wait for it.
SQLITE_BULK_PRAGMAS = {"cache_size": -65536, "wal_autocheckpoint": 0}
SQLITE_CHECKPOINT_SECONDS = 2.0
SQLITE_CHECKPOINT_ROWS = 20_000


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


def _checkpoint():
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        return  # only outside a transaction (never the case in a job; tests run inside one)
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")


def _referencing(model):
    return sum(1 for rel in model._meta.related_objects if rel.one_to_many or rel.one_to_one)


class BatchBudget:
    """How many rows of a table fit in what is left of a batch's time, learned from the batches measured so far.

    A batch takes a fixed time (its commit, its progress row) plus, for each table, rows × the cost of one row of
    that table. Deleting a row that other tables reference costs one foreign-key check per referencing table
    (PostgreSQL runs them at commit), and on SQLite each row also rewrites pages of the table's secondary indexes,
    so the first guess of a table's cost grows with the tables that reference it; then every measured batch
    corrects the costs of the tables it touched towards what it really took. Until a table has been measured, a
    batch takes at most FIRST_ROWS of it (fewer for a referenced table): a guess can be far off on a large
    tenant whose indexes no longer fit in memory. The first table of a batch always gets at least MINIMUM_BATCH
    rows: below that the fixed cost dominates, and on a machine slowed by I/O a budget without a floor would
    shrink to one row and never grow back.
    """

    MINIMUM_BATCH = 100
    FIRST_ROWS = 2000
    FIXED_SECONDS = 0.002
    ROW_SECONDS = 2e-6  # a row nothing references; measured costs replace it after the first batch

    def __init__(self, models, batch_size, target_seconds):
        self.target = target_seconds
        self.maximum = batch_size
        self.minimum = min(self.MINIMUM_BATCH, batch_size)
        self.cost = {model: self.ROW_SECONDS * (1 + _referencing(model)) for model in models}
        self.unmeasured = {model: max(self.minimum, self.FIRST_ROWS // (1 + _referencing(model))) for model in models}

    def rows(self, model, batch):
        """Rows of ``model`` to add to ``batch`` (``{model: rows}`` already in it): 0 when the batch is full."""
        used_rows = sum(batch.values())
        room = self.maximum - used_rows
        if self.target:
            seconds_left = self.target - self.FIXED_SECONDS - sum(n * self.cost[m] for m, n in batch.items())
            room = min(room, int(seconds_left / self.cost[model]))
            if model in self.unmeasured:
                room = min(room, self.unmeasured[model] - batch.get(model, 0))
        if not used_rows:
            room = max(room, self.minimum)
        return max(room, 0)

    def measured(self, batch, seconds):
        """Correct the costs of the batch's tables by how far its measured time was from the expected one."""
        expected = sum(n * self.cost[m] for m, n in batch.items())
        if not self.target or expected < self.FIXED_SECONDS:
            return  # a batch of a few rows says nothing about the cost of one
        for model, n in batch.items():
            if n >= self.minimum:
                self.unmeasured.pop(model, None)
        # Damped (square root), so that one slow batch on a busy machine does not halve the next ones, and never
        # more than doubling or halving at once.
        ratio = max(seconds - self.FIXED_SECONDS, 1e-6) / expected
        factor = min(2.0, max(0.5, ratio**0.5))
        for model, n in batch.items():
            if n:
                self.cost[model] *= factor


class _Walk:
    """The batches of one ``erase_rows``: tables in deletion order, each walked by keyset (``id > boundary``).

    The keyset keeps every batch an index range scan that starts where the previous one ended, instead of
    re-walking the entries of rows already deleted. A row inserted meanwhile behind the boundary is caught by
    another pass over its table before its parents go: a table emptied within one batch is looked at again in that
    batch on PostgreSQL (on SQLite the batch holds the write lock, so nothing can arrive), and a table emptied over
    several batches is looked at with a read after the last one, so that check never holds the write lock (on
    PostgreSQL it may walk many dead index entries before vacuum).
    """

    def __init__(self, company_id, ordered, progress, budget):
        self.company_id = company_id
        self.ordered = ordered
        self.progress = progress
        self.budget = budget
        self.deleted = {graph.entity_name(model): 0 for model in ordered}
        self.position = 0  # the table being emptied
        self.after = None  # its keyset boundary: every row of the company up to it is gone
        self.spanned = False  # whether it took more than one batch
        self.stepped = None

    def run(self):
        last_checkpoint, unchecked = time.monotonic(), 0
        while self.position < len(self.ordered):
            started = time.perf_counter()
            batch, closing = self.batch()
            self.budget.measured(batch, time.perf_counter() - started)
            unchecked += sum(batch.values())
            if closing:  # the last batch of a table that took several: anything behind its boundary?
                if _rows_left(self.company_id, self.ordered[self.position]):
                    self.after = None
                else:
                    self.next_table()
            if time.monotonic() - last_checkpoint >= SQLITE_CHECKPOINT_SECONDS:
                _checkpoint()
                last_checkpoint, unchecked = time.monotonic(), 0
        if unchecked >= SQLITE_CHECKPOINT_ROWS:
            _checkpoint()

    def next_table(self):
        self.position, self.after, self.spanned = self.position + 1, None, False

    def batch(self):
        """One short transaction: the next rows in deletion order. Returns ``({model: rows}, closing)``."""
        batch, closing = {}, False
        with transaction.atomic():
            with connection.cursor() as cursor:
                if connection.vendor == "postgresql":
                    cursor.execute(POSTGRES_BATCH_SETTINGS)
                while self.position < len(self.ordered):
                    model = self.ordered[self.position]
                    limit = self.budget.rows(model, batch)
                    if limit < 1:
                        break  # the batch is full
                    self.step(model)
                    n, boundary = _delete_range(cursor, self.company_id, model, self.after, limit)
                    batch[model] = batch.get(model, 0) + n
                    if boundary is not None:  # more rows beyond: the batch is full
                        self.after, self.spanned = boundary, True
                        break
                    if self.spanned:
                        closing = True
                        break
                    if connection.vendor == "postgresql" and n and _rows_left(self.company_id, model, cursor):
                        self.after = None  # committed meanwhile behind what this batch saw: go over it again
                        continue
                    self.next_table()
            self.report(batch)
        return batch, closing

    def step(self, model):
        if self.progress is not None and self.stepped is not model:
            self.progress.step(f"Deleting {graph.entity_name(model).replace('_', ' ')}")
            self.stepped = model

    def report(self, batch):
        rows = {graph.entity_name(model): n for model, n in batch.items() if n}
        for entity, n in rows.items():
            self.deleted[entity] += n
        if self.progress is None:
            return
        self.progress.advance(sum(rows.values()))
        tally = getattr(self.progress, "tally_rows", None)
        if tally is not None:
            tally(rows)
        self.progress.save()
        self.progress.checkpoint()


def _delete_range(cursor, company_id, model, after, limit):
    """Delete up to ``limit`` rows of the company after the boundary ``after``. Returns ``(deleted, boundary)``,
    the boundary being None when no row of the company is left beyond ``after`` (as far as this batch sees)."""
    table, company, pk = _table(model), _company_column(model), _pk_column(model)
    lower, lower_params = (f" AND {pk} > %s", [after]) if after is not None else ("", [])
    # How many rows are there up to ``limit``, and the id of the last: an index-only walk over at most ``limit``
    # entries, and for an empty table the only statement.
    cursor.execute(
        f"SELECT COUNT(*), MAX(k) FROM (SELECT {pk} AS k FROM {table} WHERE {company} = %s{lower} "  # noqa: S608
        f"ORDER BY {pk} LIMIT %s) AS next_rows",
        [company_id, *lower_params, limit],
    )
    found, last = cursor.fetchone()
    if not found:
        return 0, None
    # Fewer than ``limit``: this is the table's tail, deleted without an upper bound so that a row committed
    # meanwhile (PostgreSQL) beyond the last one seen goes too.
    upper, upper_params = (f" AND {pk} <= %s", [last]) if found >= limit else ("", [])
    cursor.execute(
        f"DELETE FROM {table} WHERE {company} = %s{lower}{upper}",  # noqa: S608
        [company_id, *lower_params, *upper_params],
    )
    return max(cursor.rowcount, 0), (last if found >= limit else None)


def _rows_left(company_id, model, cursor=None):
    table, company = _table(model), _company_column(model)
    sql = f"SELECT 1 FROM {table} WHERE {company} = %s LIMIT 1"  # noqa: S608
    if cursor is not None:
        cursor.execute(sql, [company_id])
        return cursor.fetchone() is not None
    with _index_reads() as own:
        own.execute(sql, [company_id])
        return own.fetchone() is not None


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
