"""Measures every write transaction a process holds: the benchmark's proof that deletion keeps them short.

Installed in the process that runs a deletion job (``install()``), it times, on every database connection of the
process (the job's own and the heartbeat's):

* each transaction Django opens (from ``set_autocommit(False)`` to ``commit()``/``rollback()``), counted as a
  write transaction when it executed a write statement, or always on SQLite, where Keel's ``BEGIN IMMEDIATE``
  takes the database's write lock at BEGIN;
* each write statement run outside a transaction, which is a transaction of its own (reported apart: its time
  includes waiting for the lock).

Nothing of Keel is changed: the wrappers only read the clock around Django's own methods.
"""

import threading
import time

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorWrapper

WRITE_WORDS = ("INSERT", "UPDATE", "DELETE", "REPLACE")


class Tally:
    def __init__(self):
        self.durations = []
        self.longest = 0.0
        self.longest_sql = ""
        self.by_table = {}  # seconds, by the table the first write statement names

    def add(self, seconds, sql):
        self.durations.append(seconds)
        if seconds > self.longest:
            self.longest, self.longest_sql = seconds, sql
        table = table_of(sql)
        self.by_table[table] = self.by_table.get(table, 0.0) + seconds

    def summary(self):
        ordered = sorted(self.durations)
        if not ordered:
            return {"count": 0, "max_ms": 0.0, "p99_ms": 0.0, "over_100ms": 0, "longest_statement": ""}
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        return {
            "count": len(ordered),
            "max_ms": round(self.longest * 1000, 2),
            "p99_ms": round(p99 * 1000, 2),
            "mean_ms": round(sum(ordered) / len(ordered) * 1000, 2),
            "over_100ms": sum(1 for d in ordered if d > 0.1),
            "longest_statement": self.longest_sql[:160],
            "seconds_by_table": {
                table: round(seconds, 2)
                for table, seconds in sorted(self.by_table.items(), key=lambda item: -item[1])[:8]
            },
        }


class Watch:
    """``transactions``: from BEGIN (once it returned) to COMMIT, the time the transaction held its locks.
    ``autocommit_writes``: single write statements outside a transaction; their time also includes waiting for
    the lock (on SQLite a statement cannot tell waiting from holding), so they are reported apart."""

    def __init__(self):
        self.lock = threading.Lock()
        self.transactions = Tally()
        self.autocommit = Tally()
        self.rowless = Tally()

    def add(self, seconds, sql, autocommit=False, rowless=False):
        with self.lock:
            tally = self.rowless if rowless else self.autocommit if autocommit else self.transactions
            tally.add(seconds, sql)

    def summary(self):
        return {
            **self.transactions.summary(),
            "autocommit_writes": self.autocommit.summary(),
            # PostgreSQL: write statements that changed no row (e.g. a final "anything left?" DELETE) lock nothing.
            "rowless_writes": self.rowless.summary(),
        }


WATCH = Watch()


def table_of(sql):
    """``contacts_contact`` for ``DELETE FROM "contacts_contact" WHERE …`` (and INSERT INTO / UPDATE)."""
    words = sql.replace('"', " ").split()
    for i, word in enumerate(words[:-1]):
        if word.upper() in ("FROM", "INTO", "UPDATE"):
            return words[i + 1]
    return words[0] if words else ""


def _is_write(sql):
    return sql.lstrip().upper().startswith(WRITE_WORDS)


def install():
    original_set_autocommit = BaseDatabaseWrapper.set_autocommit
    original_commit = BaseDatabaseWrapper.commit
    original_rollback = BaseDatabaseWrapper.rollback
    original_execute = CursorWrapper._execute
    original_executemany = CursorWrapper._executemany

    def set_autocommit(self, autocommit, *args, **kwargs):
        beginning = not autocommit and self.get_autocommit()
        result = original_set_autocommit(self, autocommit, *args, **kwargs)
        if beginning:  # the clock starts once BEGIN has returned: waiting for the lock is not holding it
            self._bench_started = time.perf_counter()
            self._bench_first_write = "" if self.vendor != "sqlite" else "BEGIN IMMEDIATE"
            self._bench_wrote = self.vendor == "sqlite"
            self._bench_rowless_sql = ""
        return result

    def finish(self):
        started = getattr(self, "_bench_started", None)
        if started is not None:
            self._bench_started = None
            if getattr(self, "_bench_wrote", False):
                WATCH.add(time.perf_counter() - started, getattr(self, "_bench_first_write", ""))
            elif getattr(self, "_bench_rowless_sql", ""):
                WATCH.add(time.perf_counter() - started, self._bench_rowless_sql, rowless=True)

    def commit(self):
        try:
            return original_commit(self)
        finally:
            finish(self)

    def rollback(self):
        try:
            return original_rollback(self)
        finally:
            finish(self)

    def timed(original):
        def run(self, sql, *args, **kwargs):
            db = self.db
            if not _is_write(sql):
                return original(self, sql, *args, **kwargs)
            if getattr(db, "_bench_started", None) is not None:  # inside a transaction: remember what it wrote
                result = original(self, sql, *args, **kwargs)
                changed = self.cursor.rowcount != 0 or db.vendor == "sqlite"
                if changed and (not db._bench_wrote or db._bench_first_write == "BEGIN IMMEDIATE"):
                    db._bench_first_write = sql
                if changed:
                    db._bench_wrote = True
                elif not db._bench_rowless_sql:
                    db._bench_rowless_sql = sql
                return result
            started = time.perf_counter()
            result = original(self, sql, *args, **kwargs)
            if db.get_autocommit():
                rowless = db.vendor != "sqlite" and self.cursor.rowcount == 0
                WATCH.add(time.perf_counter() - started, sql, autocommit=not rowless, rowless=rowless)
            return result

        return run

    BaseDatabaseWrapper.set_autocommit = set_autocommit
    BaseDatabaseWrapper.commit = commit
    BaseDatabaseWrapper.rollback = rollback
    CursorWrapper._execute = timed(original_execute)
    CursorWrapper._executemany = timed(original_executemany)
    return WATCH
