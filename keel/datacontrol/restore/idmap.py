"""Ids of an archive on disk: which ids each entity holds, and the new id each one was given.

An archive of a million contacts has a million ids to check references against and to map to new ids; held in
Python dictionaries they would grow memory with the archive. They live in a temporary SQLite file instead (one per
attempt: a restore that is resumed starts again from an empty company, see docs/restore.md), looked up a batch at
a time.
"""

import os
import sqlite3
import tempfile

LOOKUP_CHUNK = 500  # host parameters per IN (...) list, well below SQLite's limit


class IdMap:
    def __init__(self):
        handle, self.path = tempfile.mkstemp(prefix="keel-restore-ids-", suffix=".sqlite3")
        os.close(handle)
        self.db = sqlite3.connect(self.path)
        self.db.execute("PRAGMA journal_mode = OFF")
        self.db.execute("PRAGMA synchronous = OFF")
        self.db.execute(
            "CREATE TABLE ids (entity TEXT NOT NULL, old INTEGER NOT NULL, new INTEGER, PRIMARY KEY (entity, old))"
            " WITHOUT ROWID"
        )

    def close(self):
        self.db.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def add(self, entity, old_ids):
        """Record that the archive holds these ids of ``entity`` (no new id yet). Returns the ids seen twice."""
        before = self.db.total_changes
        self.db.executemany("INSERT OR IGNORE INTO ids (entity, old) VALUES (?, ?)", ((entity, i) for i in old_ids))
        return len(old_ids) - (self.db.total_changes - before)

    def assign(self, entity, pairs):
        """Record the new id of each ``(old, new)`` pair."""
        self.db.executemany(
            "INSERT INTO ids (entity, old, new) VALUES (?, ?, ?)"
            " ON CONFLICT (entity, old) DO UPDATE SET new = excluded.new",
            ((entity, old, new) for old, new in pairs),
        )

    def known(self, entity, old_ids):
        """The subset of ``old_ids`` the archive holds for ``entity``."""
        return {old for old, _ in self._rows(entity, old_ids)}

    def new_ids(self, entity, old_ids):
        """``{old: new}`` for the ids of ``entity`` that were restored (skipped rows have no new id)."""
        return {old: new for old, new in self._rows(entity, old_ids) if new is not None}

    def _rows(self, entity, old_ids):
        wanted = list(set(old_ids))
        for start in range(0, len(wanted), LOOKUP_CHUNK):
            chunk = wanted[start : start + LOOKUP_CHUNK]
            marks = ", ".join("?" * len(chunk))
            yield from self.db.execute(
                f"SELECT old, new FROM ids WHERE entity = ? AND old IN ({marks})",  # noqa: S608 (placeholders only)
                [entity, *chunk],
            )
