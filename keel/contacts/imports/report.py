"""The import's error report: one CSV row per row that was not imported (line, problem, the row as it was).

Each batch writes its problems to a part of its own before it commits; the parts of the committed batches are
merged into errors.csv when the import ends.
"""

import csv
import io
import tempfile

from django.core.files.base import ContentFile, File
from django.core.files.storage import default_storage

from keel.contacts.imports.files import PARTS_DIR, REPORT_NAME, save_file
from keel.spreadsheets import defuse


def report_header(file_header):
    return ["line", "problem", *(defuse(name) for name in file_header)]


def report_row(line, reasons, row):
    """One line of the error report: where, why, and the row as it was, with formula-looking cells defused so
    that opening the report in a spreadsheet runs nothing."""
    return [line, " ".join(reasons), *(defuse(cell) for cell in (row or []))]


def part_name(number, attempt):
    return f"{number:08d}-{attempt}.csv"


def write_report_part(folder, part, rows):
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    name = f"{folder}/{PARTS_DIR}/{part}"
    if default_storage.exists(name):
        default_storage.delete(name)
    save_file(name, ContentFile(buffer.getvalue().encode("utf-8")))


def merge_report(job, folder, parts):
    """errors.csv = a header, then the committed batches' parts in order (through a temporary file: memory stays
    flat)."""
    parts_dir = f"{folder}/{PARTS_DIR}"
    header = io.StringIO()
    csv.writer(header).writerow(report_header(job.params.get("header", [])))
    with tempfile.SpooledTemporaryFile(max_size=4 * 1024 * 1024) as merged:
        merged.write(header.getvalue().encode("utf-8"))
        for part in parts:
            with default_storage.open(f"{parts_dir}/{part}", "rb") as f:
                while chunk := f.read(1024 * 1024):
                    merged.write(chunk)
        report = f"{folder}/{REPORT_NAME}"
        if default_storage.exists(report):
            default_storage.delete(report)
        merged.seek(0)
        save_file(report, File(merged))


def report_name(job):
    """The stored error report of an import, or None when it has none (no problems, or deleted)."""
    if not (job.result or {}).get("error_report"):
        return None
    name = f"{job.params.get('folder', '')}/{REPORT_NAME}"
    return name if default_storage.exists(name) else None
