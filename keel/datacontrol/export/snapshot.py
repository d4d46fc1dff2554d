"""One consistent read of a company's data: the snapshot every file of an export archive is read from."""

from datetime import UTC, date, datetime, time

from django.db import connections

from keel.spreadsheets import ESCAPE, FORMULA_STARTS, PLAIN_NUMBER

ESCAPED_STARTS = (*FORMULA_STARTS, ESCAPE)


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

    def copy_csv(self, sql, batch_rows):
        """PostgreSQL: the rows of one statement as CSV from ``COPY (…) TO STDOUT``, streamed in ``(data, rows)``
        pieces of ``batch_rows`` rows.

        COPY ends a row with \\n where Python's csv.writer writes \\r\\n. Every CopyData message of a COPY TO is
        exactly one row, so its last byte is the row's end and is replaced without parsing the row (a \\n inside a
        quoted cell stays, as csv.writer leaves it). The server's row count must match the messages, or the
        archive is refused.
        """
        cursor = self.connection.connection.cursor()
        rows = 0
        try:
            with cursor.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)") as copy:
                pending = []
                for row in copy:
                    pending.append(row[:-1])
                    if len(pending) == batch_rows:
                        pending.append(b"")
                        yield b"\r\n".join(pending), batch_rows
                        rows += batch_rows
                        pending = []
                if pending:
                    rows += len(pending)
                    pending.append(b"")
                    yield b"\r\n".join(pending), len(pending) - 1
            if cursor.rowcount != rows:
                raise RuntimeError(f"COPY sent {cursor.rowcount} rows in {rows} messages, not one row per message")
        finally:
            cursor.close()

    def select_expression(self, column, text_in_sql=True):
        """SQL that returns the column already formatted for the CSV, so that most rows need no Python work.

        With ``text_in_sql`` text cells are formula-escaped here too (``escaped_text``); without it they come back
        raw for Python's ``escape_reversibly``, the reference the SQL is tested against.
        """
        col = self.quote(column.field.column)
        postgres = self.vendor == "postgresql"
        if column.type == "string" and text_in_sql:
            return self.escaped_text(col)
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

    def escaped_text(self, col, empty_as_null=False):
        """``keel.spreadsheets.escape_reversibly`` in SQL: a ' before a cell starting with = + - @, a tab or a
        carriage return unless it is a plain number (``PLAIN_NUMBER``), and before a cell starting with '.

        The first character is compared by its code (``ascii()``, ``unicode()``): on PostgreSQL that costs next
        to nothing, where ``left(…, 1) IN (…)`` made the whole COPY half as slow again. ``empty_as_null`` gives
        NULL for an empty text (COPY writes an empty text as ``""``, csv.writer as nothing).
        """
        codes = ", ".join(str(ord(start)) for start in ESCAPED_STARTS)
        if self.vendor == "postgresql":
            first, plain_number = f"ascii({col})", f"{col} ~ '^{PLAIN_NUMBER.pattern}$'"
        else:  # no regular expressions in SQLite: sign and digit first, then nothing outside the allowed characters
            first = f"unicode({col})"
            plain_number = f"({col} GLOB '[+-][0-9]*' AND substr({col}, 3) NOT GLOB '*[^0-9 .,()/-]*')"
        rest = f"WHEN {col} <> '' THEN {col} END" if empty_as_null else f"ELSE {col} END"
        return f"CASE WHEN {first} IN ({codes}) AND NOT {plain_number} THEN '''' || {col} {rest}"

    def file_path(self, col, pk, entity):
        """``scopes.attachment_archive_path`` in SQL (PostgreSQL): the stored file's place in the archive, NULL
        when the row has no file."""
        folder = "attachments/" if entity == "attachments" else f"attachments/{entity}/"
        folder = folder.replace("'", "''")
        return f"CASE WHEN {col} <> '' THEN '{folder}' || {pk}::text || '/' || regexp_replace({col}, '^.*/', '') END"

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
