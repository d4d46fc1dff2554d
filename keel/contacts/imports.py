"""CSV import of contacts: the actions (upload, start), the ``import`` job, and its housekeeping.

Pages, the API and ``keel import`` call the ``do_*`` functions. The job reads the stored file as a stream in
batches; each batch's writes and the position after it commit in one transaction (``Progress.commit``), so a job
restarted after a crash carries on after the last committed batch: no row is imported twice or lost.
"""

import csv
import io
import json
import logging
import posixpath
import re
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from itertools import islice

from django.conf import settings
from django.core.files.base import ContentFile, File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from keel.accounts.access import require_permission
from keel.accounts.notify import notify
from keel.audit.actions import record
from keel.contacts import importer
from keel.contacts.guards import check_crm_writable, ensure_crm_writable
from keel.errors import Conflict, NotFound
from keel.jobs.models import DataJob
from keel.jobs.progress import JobCancelled, JobFailed
from keel.jobs.registry import register, register_periodic
from keel.jobs.runner import active_exclusive_job, refusal_for
from keel.jobs.tasks import create_job
from keel.storage import company_folder, company_ids_with_files, delete_folder, list_folder

logger = logging.getLogger("keel.contacts")

PERMISSION = "import_contacts"
UPLOAD_NAME = "upload.csv"
META_NAME = "meta.json"
REPORT_NAME = "errors.csv"
PARTS_DIR = "error-parts"
TOKEN = re.compile(r"[0-9a-f]{32}")
ABANDONED_UPLOAD_HOURS = 24  # an uploaded file whose import was never started is deleted after this
REPORT_RETENTION_DAYS = 30  # error reports (they hold rows of the file) are deleted after this
SWEEP_EVERY_SECONDS = 300


def folder_for(company_id, token):
    return company_folder(company_id, "imports", token)


# --- actions ------------------------------------------------------------------------------------------------


@dataclass
class Upload:
    """A checked file stored under companies/<id>/imports/<token>/, waiting for its import to be started."""

    token: str
    folder: str
    meta: dict

    @property
    def header(self):
        return self.meta["header"]

    @property
    def detected_columns(self):
        return importer.detect_columns(self.header)


def do_upload_import_file(user, uploaded, encoding="utf-8"):
    """Check the whole file (refusing it with the reason if it cannot be imported) and store it."""
    require_permission(user, PERMISSION)
    company = user.company
    check_crm_writable(company)  # before storing the file; starting the import is guarded in its transaction
    _refuse_while_busy(company)
    if uploaded is None:
        raise importer.FileRefused("Choose a CSV file to import.", field="file", code="no_file")
    filename = posixpath.basename((uploaded.name or "contacts.csv").replace("\\", "/"))[:200] or "contacts.csv"
    found = importer.inspect_upload(uploaded, uploaded.size, filename, encoding)
    token = uuid.uuid4().hex
    folder = folder_for(company.pk, token)
    uploaded.seek(0)
    _save(f"{folder}/{UPLOAD_NAME}", uploaded)
    meta = {
        "filename": filename,
        "size": uploaded.size,
        "encoding": found.encoding,
        "delimiter": found.delimiter,
        "header": found.header,
        "sample": found.sample,
        "data_offset": found.data_offset,
        "data_line": found.data_line,
        "uploaded_by": user.pk,
        "uploaded_at": timezone.now().isoformat(),
    }
    _save(f"{folder}/{META_NAME}", ContentFile(json.dumps(meta).encode()))
    return Upload(token, folder, meta)


def load_upload(company, token):
    """A stored upload of the company (another company's token is simply not found)."""
    if not TOKEN.fullmatch(token or ""):
        raise NotFound("This upload does not exist.")
    folder = folder_for(company.pk, token)
    try:
        with default_storage.open(f"{folder}/{META_NAME}", "rb") as f:
            meta = json.loads(f.read())
    except (FileNotFoundError, OSError):
        raise NotFound("This upload is no longer available; upload the file again.", code="upload_gone") from None
    return Upload(token, folder, meta)


def job_for_upload(company, token):
    """The import started from this upload, if any (its files may be gone: it may have ended)."""
    if not TOKEN.fullmatch(token or ""):
        return None
    folder = folder_for(company.pk, token)
    return DataJob.objects.filter(company=company, kind=DataJob.Kind.IMPORT, params__folder=folder).first()


def do_start_import(user, upload, columns=None, mapping=None):
    """Start the import job of a stored upload. ``columns`` (one field per column, as the page sends them) or
    ``mapping`` (``{"<column name>": "<field>"}``, as the API takes it) override the detected columns."""
    require_permission(user, PERMISSION)
    company = user.company
    if mapping is not None:
        columns = importer.columns_from_mapping(upload.header, mapping)
    else:
        columns = importer.check_columns(upload.header, columns if columns is not None else upload.detected_columns)
    existing = job_for_upload(company, upload.token)
    if existing is not None:
        raise Conflict("This file is already being imported.", code="already_started", job_id=existing.pk)
    params = {
        "folder": upload.folder,
        "upload": f"{upload.folder}/{UPLOAD_NAME}",
        "columns": columns,
        **{key: upload.meta[key] for key in ("filename", "size", "encoding", "delimiter", "header")},
        **{key: upload.meta[key] for key in ("data_offset", "data_line")},
    }
    with transaction.atomic():
        ensure_crm_writable(company)
        job = create_job(company, DataJob.Kind.IMPORT, requested_by=user, params=params)
        record(company, user, "import.started", job, file=params["filename"], size=params["size"])
    return job


def do_import_file(user, uploaded, mapping=None, encoding="utf-8"):
    """Upload and start in one go (API, command line). A refused start leaves no file behind."""
    upload = do_upload_import_file(user, uploaded, encoding=encoding)
    try:
        return do_start_import(user, upload, mapping=mapping)
    except Exception:
        delete_folder(upload.folder)
        raise


def _refuse_while_busy(company):
    active = active_exclusive_job(company)
    if active is not None:
        raise refusal_for(active)


def _save(name, content):
    stored = default_storage.save(name, content)
    if stored != name:  # a storage that renamed the file: keep nothing half-stored
        default_storage.delete(stored)
        raise RuntimeError(f"storage stored {name} as {stored}")


# --- the job ------------------------------------------------------------------------------------------------


def run_import(job, progress):
    """The ``import`` job: count, import in batches, then publish the error report and clean up.

    Safe to run again from the start at any point: the cursor (committed with each batch) says where to go on.
    """
    cursor = dict(job.cursor or {})
    try:
        if not cursor.get("rows_finished"):
            cursor = _import_rows(job, progress, cursor)
    except JobCancelled:
        finish_import(job, "cancelled", progress)
        raise
    finish_import(job, "succeeded", progress)


def _import_rows(job, progress, cursor):
    params = job.params
    try:
        upload = default_storage.open(params["upload"], "rb")
    except (FileNotFoundError, OSError):
        raise JobFailed("The uploaded file is no longer available. Upload it again to import it.") from None
    with upload:
        try:
            if "total" not in cursor:
                cursor = _count_rows(job, progress, upload)
            progress.set_total(cursor["total"])
            progress.set_done(cursor["rows"])
            records = importer.data_records(
                upload, params["encoding"], params["delimiter"], cursor["offset"], cursor["line"]
            )
            while batch := list(islice(records, settings.KEEL_BATCH_SIZE)):
                progress.checkpoint()  # a cancel, a lost lease or a stopping worker ends the run here
                progress.step(f"Importing rows ({cursor['rows']:,} of {cursor['total']:,} done)")
                cursor = _import_batch(job, progress, cursor, batch)
        except UnicodeDecodeError:
            raise JobFailed(f"The file could not be read as {params['encoding']}.") from None
    with transaction.atomic():
        cursor = {**cursor, "rows_finished": True}
        progress.commit(cursor)
    return cursor


def _count_rows(job, progress, upload):
    """First step: the number of rows, so the status bar can say how far along the import is."""
    params = job.params
    progress.step("Counting the rows in the file")
    progress.checkpoint()
    total = sum(
        1
        for _ in importer.data_records(
            upload, params["encoding"], params["delimiter"], params["data_offset"], params["data_line"]
        )
    )
    cursor = {
        "total": total,
        "offset": params["data_offset"],
        "line": params["data_line"],
        "rows": 0,
        "created": 0,
        "updated": 0,
        "errors": 0,
        "batch": 0,
    }
    progress.set_total(total)
    with transaction.atomic():
        progress.commit(cursor)
    return cursor


def _import_batch(job, progress, cursor, batch):
    """Check the batch's rows, write the good ones, and commit them with the position after the batch."""
    params = job.params
    good, problems = [], []
    for rec in batch:
        if rec.error:
            problems.append(importer.report_row(rec.line, [f"The row is not valid CSV: {rec.error}."], []))
            continue
        try:
            good.append(importer.parse_row(params["columns"], rec))
        except importer.RowProblem as problem:
            problems.append(importer.report_row(rec.line, problem.reasons, rec.row))
    number = cursor["batch"] + 1
    after = {
        **cursor,
        "offset": batch[-1].end_offset,
        "line": batch[-1].next_line,
        "rows": cursor["rows"] + len(batch),
        "errors": cursor["errors"] + len(problems),
        "batch": number,
    }
    if problems:
        # Stored before the batch commits, under a name of this run's own; the cursor that commits with the batch
        # lists it, so the report is made of the parts of committed batches only, whatever else was left behind.
        part = _part_name(number, progress.attempt)
        _write_report_part(params["folder"], part, problems)
        after["parts"] = [*cursor.get("parts", []), part]
    requester = job.requested_by.email if job.requested_by_id and job.requested_by else ""
    event_data = {"job_id": job.pk, "file": params["filename"], **({"by": requester} if requester else {})}
    for attempt in range(3):
        try:
            with transaction.atomic():
                created, updated = importer.write_batch(
                    job.company_id, good, timezone.now(), f"Imported from {params['filename']}", event_data
                )
                done = {**after, "created": cursor["created"] + created, "updated": cursor["updated"] + updated}
                progress.set_done(done["rows"])
                progress.commit(done)
            return done
        except IntegrityError:
            # A contact with one of the batch's addresses was created meanwhile: the rerun finds and updates it.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _part_name(number, attempt):
    return f"{number:08d}-{attempt}.csv"


def _write_report_part(folder, part, rows):
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    name = f"{folder}/{PARTS_DIR}/{part}"
    if default_storage.exists(name):
        default_storage.delete(name)
    _save(name, ContentFile(buffer.getvalue().encode("utf-8")))


# --- the end of an import --------------------------------------------------------------------------------------


def finish_import(job, outcome, progress=None):
    """Publish the error report, delete the uploaded file, put the counts in ``job.result``, tell the requester.

    Runs at the end of the job (``progress`` given, job still running) or from the failed/cancelled hooks (job
    already ended). Each step is safe to repeat if the worker dies half-way through.
    """
    cursor = dict(job.cursor or {})
    folder = job.params.get("folder", "")
    if progress is not None:
        progress.step("Finishing")
    if cursor.get("errors") and not cursor.get("report_ready"):
        _merge_report(job, folder, cursor.get("parts", []))
        cursor["report_ready"] = True
        _store_cursor(job, cursor, progress)
    delete_folder(folder, keep=(REPORT_NAME,))
    job.result = _result(job, cursor, outcome)
    if progress is None:
        DataJob.objects.filter(pk=job.pk).update(result=job.result)
    if not cursor.get("announced"):
        _announce(job, outcome)
        cursor["announced"] = True
        _store_cursor(job, cursor, progress)


def _store_cursor(job, cursor, progress):
    if progress is not None:
        with transaction.atomic():
            progress.commit(cursor)
    else:
        job.cursor = cursor
        DataJob.objects.filter(pk=job.pk).update(cursor=cursor)


def _merge_report(job, folder, parts):
    """errors.csv = a header, then the committed batches' parts in order (through a temporary file: memory stays
    flat)."""
    parts_dir = f"{folder}/{PARTS_DIR}"
    header = io.StringIO()
    csv.writer(header).writerow(importer.report_header(job.params.get("header", [])))
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
        _save(report, File(merged))


def report_name(job):
    """The stored error report of an import, or None when it has none (no problems, or deleted)."""
    if not (job.result or {}).get("error_report"):
        return None
    name = f"{job.params.get('folder', '')}/{REPORT_NAME}"
    return name if default_storage.exists(name) else None


def _result(job, cursor, outcome):
    rows, total = cursor.get("rows", 0), cursor.get("total", 0)
    created, updated, errors = cursor.get("created", 0), cursor.get("updated", 0), cursor.get("errors", 0)
    counts = f"{created:,} contacts created, {updated:,} updated"
    problems = (
        f" {errors:,} {'row has' if errors == 1 else 'rows have'} problems and {'was' if errors == 1 else 'were'} "
        "not imported: see the error report."
        if errors
        else ""
    )
    if outcome == "succeeded":
        summary = f"Imported {rows:,} {'row' if rows == 1 else 'rows'} from {job.params.get('filename')}: {counts}."
    elif not job.started_at and not rows:
        summary = "Nothing was imported."
    else:
        summary = f"It stopped after {rows:,} of {total:,} rows: {counts}."
    result = {
        "file": job.params.get("filename", ""),
        "total": total,
        "rows": rows,
        "created": created,
        "updated": updated,
        "errors": errors,
        "error_report": bool(errors),
        "summary": summary + problems,
    }
    if errors:
        result["error_report_url"] = f"/api/v1/imports/{job.pk}/errors"
    return result


def _announce(job, outcome):
    record(job.company_id, None, f"import.{outcome}", job, **{k: job.result[k] for k in ("rows", "created", "updated")})
    if outcome == "cancelled" or job.requested_by_id is None:
        return
    user = job.requested_by
    verb = "finished" if outcome == "succeeded" else "failed"
    message = f"Your import of {job.params.get('filename')} {verb}. {job.result['summary']}"
    notify(user, f"Import {verb}", message, link=f"/contacts/import/{job.pk}/")


def on_import_failed(job):
    finish_import(job, "failed")


def on_import_cancelled(job):
    finish_import(job, "cancelled")


# --- housekeeping ---------------------------------------------------------------------------------------------

_last_sweep = [0.0]


def sweep_import_files(force=False):
    """Delete uploads nobody started, leftovers of imports whose clean-up was interrupted, and old error
    reports. Runs in the worker beside the reaper, every few minutes: one query for the whole sweep, then a walk
    of the import folders."""
    if not force and time.monotonic() - _last_sweep[0] < SWEEP_EVERY_SECONDS:
        return
    _last_sweep[0] = time.monotonic()
    now = timezone.now()
    kept = _imports_keeping_files(now)
    for company_id in company_ids_with_files():
        for token in list_folder(company_folder(company_id, "imports"))[0]:
            folder = folder_for(company_id, token)
            _sweep_folder(folder, kept.get(folder), now)


def _imports_keeping_files(now):
    """``{folder: (job id, state)}`` of the imports whose folder must stay: running or queued ones, and ended ones
    whose error report is still kept. Any other folder is an upload nobody started or an expired import."""
    still_kept = (
        Q(state__in=DataJob.ACTIVE_STATES)
        | Q(finished_at__isnull=True)
        | Q(finished_at__gte=now - timedelta(days=REPORT_RETENTION_DAYS))
    )
    jobs = DataJob.objects.filter(still_kept, kind=DataJob.Kind.IMPORT).values_list("params__folder", "id", "state")
    return {folder: (job_id, state) for folder, job_id, state in jobs if folder}


def _sweep_folder(folder, kept_by, now):
    if kept_by is None:
        # An upload nobody started is kept for a day; an ended import's folder has no fresh upload left in it.
        if _age(folder, now) > timedelta(hours=ABANDONED_UPLOAD_HOURS) and not _started_since(folder):
            delete_folder(folder)
        return
    job_id, state = kept_by
    if state not in DataJob.ACTIVE_STATES and _has_leftovers(folder):
        job = DataJob.objects.filter(pk=job_id).first()
        if job is not None:
            finish_import(job, job.state)


def _started_since(folder):
    """An import started from this upload after the sweep's query began (its folder must stay)."""
    return DataJob.objects.filter(
        kind=DataJob.Kind.IMPORT, params__folder=folder, state__in=DataJob.ACTIVE_STATES
    ).exists()


def _age(folder, now):
    try:
        return now - default_storage.get_modified_time(f"{folder}/{META_NAME}")
    except (FileNotFoundError, OSError, NotImplementedError):
        return timedelta(days=365)


def _has_leftovers(folder):
    dirs, files = list_folder(folder)
    return bool(dirs) or any(name != REPORT_NAME for name in files)


register(
    DataJob.Kind.IMPORT,
    run_import,
    on_failed=on_import_failed,
    on_cancelled=on_import_cancelled,
    cancellable=True,
)
register_periodic(sweep_import_files)
