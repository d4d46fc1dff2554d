"""The ``import`` job: count the rows, import them in batches, then publish the error report and clean up.

The job reads the stored file as a stream in batches; each batch's writes and the position after it commit in one
transaction (``Progress.commit``), so a job restarted after a crash carries on after the last committed batch: no
row is imported twice or lost.
"""

from itertools import islice

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from keel.bulk import batch_transaction
from keel.contacts.imports import engine, load, report, writer
from keel.contacts.imports.files import REPORT_NAME
from keel.jobs import outbox
from keel.jobs.models import DataJob
from keel.jobs.progress import JobCancelled, JobFailed
from keel.jobs.registry import register
from keel.storage import delete_folder


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
            records = engine.data_records(
                upload, params["encoding"], params["delimiter"], cursor["offset"], cursor["line"]
            )
            with load.write_settings() as between_batches:
                while batch := list(islice(records, settings.KEEL_BATCH_SIZE)):
                    progress.checkpoint()  # a cancel, a lost lease or a stopping worker ends the run here
                    progress.step(f"Importing rows ({cursor['rows']:,} of {cursor['total']:,} done)")
                    cursor = _import_batch(job, progress, cursor, batch)
                    between_batches()
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
        for _ in engine.data_records(
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
            problems.append(report.report_row(rec.line, [f"The row is not valid CSV: {rec.error}."], []))
            continue
        try:
            good.append(engine.parse_row(params["columns"], rec))
        except engine.RowProblem as problem:
            problems.append(report.report_row(rec.line, problem.reasons, rec.row))
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
        part = report.part_name(number, progress.attempt)
        report.write_report_part(params["folder"], part, problems)
        after["parts"] = [*cursor.get("parts", []), part]
    requester = job.requested_by if job.requested_by_id else None
    event_data = {"job_id": job.pk, "file": params["filename"]}
    for attempt in range(3):
        try:
            with batch_transaction():
                created, updated = writer.write_batch(
                    job.company_id,
                    good,
                    timezone.now(),
                    f"Imported from {params['filename']}",
                    event_data,
                    actor=requester,
                )
                done = {**after, "created": cursor["created"] + created, "updated": cursor["updated"] + updated}
                progress.set_done(done["rows"])
                progress.commit(done)
            load.refresh_statistics(cursor["created"], done["created"])
            return done
        except IntegrityError:
            # A contact with one of the batch's addresses was created meanwhile: the rerun finds and updates it.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


# --- the end of an import --------------------------------------------------------------------------------------


def finish_import(job, outcome, progress=None, announce=True):
    """Publish the error report, delete the uploaded file, put the counts in ``job.result``, tell the requester.

    Runs at the end of the job (``progress`` given, job still running: the audit event and notice are recorded
    with the final state, keel.jobs.outbox) or from the failed/cancelled hooks (job already ended: the outbox runs
    the hook inside the transaction that removes its entry, so the audit event is written once there too). Each
    file step is safe to repeat if the worker dies half-way through. ``announce=False`` (the sweeper tidying an
    ended import's leftovers) touches the files and the result only.
    """
    cursor = dict(job.cursor or {})
    folder = job.params.get("folder", "")
    if progress is not None:
        progress.step("Finishing")
    if cursor.get("errors") and not cursor.get("report_ready"):
        report.merge_report(job, folder, cursor.get("parts", []))
        cursor["report_ready"] = True
        _store_cursor(job, cursor, progress)
    delete_folder(folder, keep=(REPORT_NAME,))
    job.result = _result(job, cursor, outcome)
    if progress is None:
        DataJob.objects.filter(pk=job.pk).update(result=job.result)
    if not announce:
        return
    if progress is not None:
        outbox.on_completion(job, *_announcement(job, outcome))
    else:
        for effect in _announcement(job, outcome):
            outbox.perform_now(job, effect)


def _store_cursor(job, cursor, progress):
    if progress is not None:
        with transaction.atomic():
            progress.commit(cursor)
    else:
        job.cursor = cursor
        DataJob.objects.filter(pk=job.pk).update(cursor=cursor)


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
        result["error_report_url"] = reverse("api:import_errors", args=[job.pk])
    return result


def _announcement(job, outcome):
    """The import's audit event, and the requester's notice unless they cancelled it themselves."""
    counts = {k: job.result[k] for k in ("rows", "created", "updated")}
    effects = [outbox.audit(job.company_id, None, f"import.{outcome}", job, **counts)]
    if outcome != "cancelled" and job.requested_by_id is not None:
        verb = "finished" if outcome == "succeeded" else "failed"
        message = f"Your import of {job.params.get('filename')} {verb}. {job.result['summary']}"
        link = reverse("contact_import_job", args=[job.pk])
        effects.append(outbox.notice(job.requested_by, f"Import {verb}", message, link))
    return effects


def on_import_failed(job):
    finish_import(job, "failed")


def on_import_cancelled(job):
    finish_import(job, "cancelled")


register(
    DataJob.Kind.IMPORT,
    run_import,
    on_failed=on_import_failed,
    on_cancelled=on_import_cancelled,
    cancellable=True,
)
