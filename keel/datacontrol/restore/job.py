"""The ``restore`` job: check the stored archive, write it into the company, tell the requester.

All or nothing (docs/restore.md, All or nothing): every attempt first erases what an earlier, interrupted attempt
wrote, then restores from the start; a restore that fails for good erases what it wrote and leaves the company as
empty as it was.
"""

import logging

from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.urls import reverse

from keel.accounts.invitations import send_invitation
from keel.accounts.models import User
from keel.accounts.notify import notify
from keel.audit.actions import record
from keel.datacontrol import graph
from keel.datacontrol.restore.archive import Archive
from keel.datacontrol.restore.idmap import IdMap
from keel.datacontrol.restore.load import Restorer
from keel.datacontrol.restore.verify import file_sha256, verify
from keel.errors import KeelError
from keel.jobs.models import DataJob
from keel.jobs.progress import JobFailed
from keel.jobs.registry import register
from keel.storage import company_folder, delete_folder

logger = logging.getLogger("keel.datacontrol")
ERASE_BATCH = 2000
# Rows of these tables that the company's own people may write while a restore runs (an audit event, a notice):
# what the restore wrote carries the archive's older time, so only rows from before the job are erased.
WRITTEN_AT = {"audit.AuditEvent": "created_at", "accounts.Notice": "created_at"}


def run_restore(job, progress):
    company = job.company
    progress.step("Preparing")
    erase_restored(job)
    try:
        with default_storage.open(job.params["archive"], "rb") as handle:
            result = _restore(job, handle, progress)
    except KeelError as exc:  # the archive is damaged or unreadable: a sentence for the requester, no retry
        raise JobFailed(exc.message) from None
    except FileNotFoundError:
        raise JobFailed("The uploaded archive is no longer stored; upload it again.") from None
    _finish(job, company, result)


def _restore(job, handle, progress):
    """Check the archive (unless the upload checked these very bytes), then load it."""
    checked = job.params.get("verified_sha256") and file_sha256(handle) == job.params["verified_sha256"]
    archive = Archive(handle)
    with IdMap() as ids:
        rows = sum(archive.files[entity]["rows"] for entity in archive.files)
        progress.set_total(rows if checked else 2 * rows)
        if not checked:
            progress.step("Checking the archive")
            problems = verify(archive, progress, ids)
            if problems:
                more = f" ({len(problems) - 1} more problems)" if len(problems) > 1 else ""
                raise JobFailed(f"The archive is damaged: {problems[0]}{more}. Nothing was restored.")
        restorer = Restorer(
            job.company,
            archive,
            ids,
            actor=job.requested_by,
            invite_users=job.params.get("invite_users"),
            progress=progress,
        )
        result = restorer.run()
        result["invited"] = restorer.invited
        return result


def _finish(job, company, result):
    source = result["source"]
    rows = sum(result["rows"].values())
    skipped = sum(result["skipped_total"].values())
    restored = f"Restored {rows:,} rows and {result['files']:,} files from the export of {source['company']}"
    result["summary"] = restored + (f"; {skipped:,} rows skipped." if skipped else ".")
    invited = result.pop("invited")
    record(
        company,
        "Keel",
        "restore.completed",
        job,
        rows=result["rows"],
        files=result["files"],
        skipped=skipped,
        source=source,
        text=f"Restored from export of {source['created_at'][:10]}",
    )
    for user in User.objects.filter(pk__in=invited):
        send_invitation(user, job.requested_by)
    default_storage.delete(job.params["archive"])
    job.result = result
    notify(job.requested_by, "Your Keel restore has finished", result["summary"], reverse("restore"))


def restore_failed(job):
    """After the restore failed for good: what it wrote goes, the requester is told why."""
    erase_restored(job)
    if job.params.get("archive"):
        default_storage.delete(job.params["archive"])
    record(job.company, "Keel", "restore.failed", job, error=job.error)
    notify(
        job.requested_by,
        "Your Keel restore failed",
        f"The restore from an export failed: {job.error} The company was left as it was before the restore.",
        reverse("restore"),
    )


def erase_restored(job):
    """Erase every row and stored file a restore of ``job`` wrote, children first, in short batches."""
    marks = job.params.get("watermarks") or {}
    for model in graph.deletion_order():
        label = graph.label(model)
        if label in marks:
            _erase_above(job, model, marks[label])
    delete_folder(company_folder(job.company_id, "attachments"))


def _erase_above(job, model, mark):
    rows = model.objects.filter(company_id=job.company_id, pk__gt=mark)
    if graph.label(model) in WRITTEN_AT:
        rows = rows.filter(**{f"{WRITTEN_AT[graph.label(model)]}__lt": job.created_at})
    table = connection.ops.quote_name(model._meta.db_table)
    pk = connection.ops.quote_name(model._meta.pk.column)
    while ids := list(rows.order_by("pk").values_list("pk", flat=True)[:ERASE_BATCH]):
        with transaction.atomic(), connection.cursor() as cursor:
            marks = ", ".join(["%s"] * len(ids))
            cursor.execute(f"DELETE FROM {table} WHERE {pk} IN ({marks})", ids)  # noqa: S608 (quoted names)


register(DataJob.Kind.RESTORE, run_restore, on_failed=restore_failed)
