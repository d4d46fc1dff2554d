"""The fast ways of writing the archive's CSV files write exactly the bytes of the reference writer.

The reference (``method="python"``) formats text cells with ``keel.spreadsheets.escape_reversibly`` and writes
rows with ``csv.writer``. On PostgreSQL the archive is written with ``COPY (SELECT …) TO STDOUT`` (``"copy"``),
on SQLite through a cursor with every rule in the SELECT (``"sql"``); both must give the same files, byte for
byte, and the same manifest entries (row counts and SHA-256).
"""

import io
import zipfile
from datetime import UTC, datetime

import pytest
from django.db import connection

from keel.contacts.models import Contact, ContactEvent
from keel.datacontrol.export import archive as archive_writer
from keel.jobs.progress import JobCancelled, NoProgress
from keel.spreadsheets import escape_reversibly
from keel.testing import fill_every_tenant_table

# Cells at every edge of the formula rule and of CSV quoting, beside fill_every_tenant_table's tricky texts.
EDGE_TEXTS = [
    "=1+1",
    "=",
    "+",
    "-",
    "@",
    "'",
    "''already quoted",
    "'quoted",
    "+1 555 0100",
    "-5",
    "+49 (0) 30/123-45.6,7",
    "-5\n",
    "-5a",
    "+ 5",
    "-2+3",
    "@SUM(A1)",
    "\tTab",
    "\rCarriage return",
    "\r\n",
    "\n",
    '"',
    '""',
    ",",
    " ",
    "\\.",
    "\\N",
    "NULL",
    "a,b",
    "x\r",
    "🚀=",
    "=🚀",
    "ü-umlaut",
    "",
]


def csv_files(company, method):
    buffer = io.BytesIO()
    written = archive_writer.write_archive(company, None, buffer, method=method, batch_size=5)
    with zipfile.ZipFile(buffer) as archive:
        files = {name: archive.read(name) for name in archive.namelist() if name.endswith(".csv")}
    return files, written.manifest["files"]


def fill_edges(company):
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)  # whole seconds: no fraction in the text
    for i, text in enumerate(EDGE_TEXTS):
        contact = Contact.objects.create(
            company=company,
            email=f"edge{i}@example.com",
            first_name=text,
            last_name=text,
            phone=text,
            company_name=text,
            custom_fields={"text": text, "list": [text, None, 1.5]},
            created_at=when,
            updated_at=when,
        )
        ContactEvent.objects.create(company=company, contact=contact, kind="note", title=text, data={"t": text})


def assert_same_bytes(reference, fast):
    (ref_files, ref_manifest), (fast_files, fast_manifest) = reference, fast
    assert sorted(fast_files) == sorted(ref_files)
    for name, data in ref_files.items():
        assert fast_files[name] == data, name
    assert fast_manifest == ref_manifest


def test_the_reference_writer_escapes_text_as_keel_spreadsheets_does(transactional_db, company):
    fill_edges(company)
    files, _ = csv_files(company, "python")
    text = files["contacts.csv"].decode("utf-8")
    for value in EDGE_TEXTS:
        if value.strip("\r\n"):
            assert escape_reversibly(value).replace('"', '""') in text, value
    assert "\r\n" in text and "'=1+1" in text and ",+1 555 0100," in text


def test_sql_formatting_writes_the_same_bytes_as_the_reference(transactional_db, company):
    fill_every_tenant_table(company, contacts=14)
    fill_edges(company)
    assert_same_bytes(csv_files(company, "python"), csv_files(company, "sql"))


@pytest.mark.postgres
def test_copy_writes_the_same_bytes_as_the_reference(transactional_db, company):
    assert connection.vendor == "postgresql"
    fill_every_tenant_table(company, contacts=14)
    fill_edges(company)
    reference = csv_files(company, "python")
    assert_same_bytes(reference, csv_files(company, "copy"))
    assert_same_bytes(reference, csv_files(company, None))  # COPY is what PostgreSQL uses by default
    assert reference[0]["contacts.csv"].count(b"\r\n") > len(EDGE_TEXTS)


class StopAtCheckpoint(NoProgress):
    """Stops the export at its third checkpoint: in the middle of a table, with a COPY still sending rows."""

    def __init__(self):
        super().__init__()
        self.checkpoints = 0

    def checkpoint(self):
        self.checkpoints += 1
        if self.checkpoints == 3:
            raise JobCancelled()


@pytest.mark.postgres
def test_an_export_stopped_in_the_middle_of_a_copy_stops_with_its_own_reason(transactional_db, company):
    assert connection.vendor == "postgresql"
    fill_edges(company)
    progress = StopAtCheckpoint()
    with pytest.raises(JobCancelled):  # not an error of the unfinished COPY or of the rollback after it
        archive_writer.write_archive(company, None, io.BytesIO(), progress=progress, method="copy", batch_size=5)
    assert progress.checkpoints == 3
    files, _ = csv_files(company, "copy")  # the next export is whole
    assert files["contacts.csv"].count(b"\r\n") > len(EDGE_TEXTS)
