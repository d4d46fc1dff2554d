"""One consistent read of a company's data: the snapshot every file of an export archive is read from."""

from datetime import UTC, date, datetime, time

from django.db import connections


class Snapshot:
    """One read transaction on a dedicated connection, so every file of the archive sees the same data.

    PostgreSQL: REPEATABLE READ, READ ONLY. SQLite: a deferred transaction, which in WAL mode reads one snapshot
    from its first SELECT on while writers carry on (``transaction.atomic()`` would take the write lock, because
    Keel runs SQLite with transaction_mode IMMEDIATE, and block every writer for the whole export).
    Nothing is ever written through this connection; job progress goes through the heartbeat's own connection.
    """

    def __init__(self):
        default = connections["default"]
        self.connection = type(default)(dict(default.settings_dict), alias="default")
        self.vendor = self.connection.vendor
        self.cursor = None
        self._cursors = 0

    def __enter__(self):
        self.connection.ensure_connection()
        self.cursor = self.connection.cursor()
        if self.vendor == "postgresql":
            self.cursor.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        else:
            self.cursor.execute("BEGIN DEFERRED")
        return self

    def __exit__(self, *exc):
        try:
            self.cursor.execute("ROLLBACK")  # read only: nothing to commit
            self.cursor.close()
        finally:
            self.connection.close()

    def quote(self, name):
        return self.connection.ops.quote_name(name)

    def fetchall(self, sql, params):
        self.cursor.execute(sql, params)
        return self.cursor.fetchall()

    def stream(self, sql, params, batch_size):
        """The rows of one statement, ``batch_size`` at a time, without holding them all in memory.

        One statement per table, read through a server-side cursor on PostgreSQL (SQLite steps its cursor
        lazily anyway): the plan is chosen once, so it can never turn quadratic the way per-batch keyset queries
        did when statistics were stale after a bulk import (a bitmap scan and sort of every remaining row for
        each batch).
        """
        if self.vendor == "postgresql":
            self._cursors += 1
            cursor = self.connection.connection.cursor(name=f"keel_export_{self._cursors}")
        else:
            cursor = self.connection.connection.cursor()
        try:
            cursor.execute(sql if self.vendor == "postgresql" else sql.replace("%s", "?"), params)
            while rows := cursor.fetchmany(batch_size):
                yield rows
        finally:
            cursor.close()

    def select_expression(self, column):
        """SQL that returns the column already formatted for the CSV, so that most rows need no Python work."""
        col = self.quote(column.field.column)
        postgres = self.vendor == "postgresql"
        if column.type == "datetime":
            # Both give 'YYYY-MM-DDTHH:MM:SS[.ffffff]Z' (SQLite holds Django's UTC text 'YYYY-MM-DD HH:MM:SS[.ffffff]');
            # a cast and a replace cost a fraction of to_char() on PostgreSQL.
            if postgres:
                return f"replace(({col} AT TIME ZONE 'UTC')::text, ' ', 'T') || 'Z'"
            return f"replace({col}, ' ', 'T') || 'Z'"
        if column.type == "boolean":
            if postgres:
                return f"CASE WHEN {col} THEN 'true' WHEN NOT {col} THEN 'false' END"
            return f"CASE {col} WHEN 1 THEN 'true' WHEN 0 THEN 'false' END"
        if column.type == "json" and postgres:
            return f"{col}::text"
        if column.type in ("date", "uuid", "time") and postgres:
            return f"{col}::text"
        return col

    def python_converter(self, column):
        """For the few types SQL does not format uniformly: a function of the raw value, or None."""
        if self.vendor == "sqlite" and column.type == "uuid":
            return lambda value: "" if value is None else str(column.field.to_python(value))
        if column.type in ("decimal", "float", "duration", "time") and self.vendor == "sqlite":
            return lambda value: "" if value is None else _plain(column.field.to_python(value))
        return None


def _plain(value):
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)
