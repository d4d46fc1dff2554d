"""Exports of company data: the actions (start, download, delete, expire) and the ``export`` job handler.

Views, API and the command line all go through the ``do_*`` functions here. The archive itself is written by
keel.datacontrol.exporter.write_archive inside one read snapshot; this module decides who may export, keeps the
half-written file out of reach until it is complete, publishes it, tells the requester, and expires it.
"""

import logging
import os
import re
from datetime import timedelta

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from keel.accounts.access import require_company_admin
from keel.accounts.models import Company, Plan
from keel.accounts.notify import notify
from keel.audit.actions import record
from keel.datacontrol import exporter
from keel.datacontrol.models import ExportArchive
from keel.errors import Conflict, Forbidden, InvalidInput, KeelError, RateLimited
from keel.jobs.models import DataJob
from keel.jobs.progress import JobFailed
from keel.jobs.registry import register, register_periodic
from keel.jobs.runner import request_cancel
from keel.jobs.tasks import create_job
from keel.storage import company_folder

logger = logging.getLogger("keel.datacontrol")

EXPORT_PERMISSION = "export_company_data"
EXPORT_PAGE = "/settings/data/export/"
RATE_WINDOW = timedelta(days=1)


class Gone(KeelError):
    status = 410
    code = "gone"


# --- starting ----------------------------------------------------------------------------------------------------


def parse_scope(scope):
    """The chosen scopes in canonical order (None = all), or a 422 naming what is unknown or missing."""
    try:
        chosen = exporter.normalize_scope(scope)
    except ValueError as exc:
        unknown = exc.args[0]
        names = ", ".join(f"“{name}”" for name in unknown)
        raise InvalidInput(
            f"Unknown data scope {names}. Choose from: {', '.join(exporter.SCOPES)}.",
            field="scope",
            unknown=unknown,
        ) from None
    if not chosen:
        raise InvalidInput("Choose at least one kind of data to export.", field="scope")
    return chosen


def ensure_plan_allows_export(company):
    if company.plan.allows_export:
        return
    offering = list(Plan.objects.filter(allows_export=True).order_by("exports_per_day").values_list("name", flat=True))
    raise Forbidden(
        f"Export is not available for your plan ({company.plan.name}). "
        f"It is offered on the {' and '.join(offering) or 'paid'} plan{'s' if len(offering) > 1 else ''}.",
        code="plan_not_eligible",
        plan=company.plan.code,
        eligible_plans=list(Plan.objects.filter(allows_export=True).values_list("code", flat=True)),
    )


def exports_per_day(company):
    """The plan's allowance, capped by the operator's KEEL_EXPORTS_PER_DAY."""
    return min(company.plan.exports_per_day, settings.KEEL_EXPORTS_PER_DAY)


def _counted_exports(company, since):
    # Failed exports were Keel's fault and do not count; deleted ones do, or deleting would lift the limit.
    return (
        ExportArchive.objects.filter(company=company, created_at__gt=since)
        .exclude(status=ExportArchive.Status.FAILED)
        .exclude(job__state=DataJob.State.FAILED)
    )


def export_ttl_text():
    """How long an archive stays downloadable, as a page says it."""
    hours = settings.KEEL_EXPORT_TTL_HOURS
    if hours % 24 == 0:
        days = hours // 24
        return f"{days} day{'s' if days != 1 else ''}"
    return f"{hours} hour{'s' if hours != 1 else ''}"


def exports_left_today(company, now=None):
    now = now or timezone.now()
    return max(0, exports_per_day(company) - _counted_exports(company, now - RATE_WINDOW).count())


def ensure_within_rate_limit(company, now):
    limit = exports_per_day(company)
    started = list(
        _counted_exports(company, now - RATE_WINDOW).order_by("created_at").values_list("created_at", flat=True)
    )
    if len(started) < limit:
        return
    next_at = (started[len(started) - limit] if limit else now) + RATE_WINDOW
    raise RateLimited(
        f"Your plan allows {limit} export{'s' if limit != 1 else ''} per day. "
        f"The next export is possible at {next_at:%Y-%m-%d %H:%M} UTC.",
        code="rate_limited",
        limit=limit,
        retry_at=next_at.isoformat(),
        retry_after=max(1, int((next_at - now).total_seconds()) + 1),
    )


def do_start_export(user, scope=None):
    """Start an export of the user's company: an ``export`` job and the ExportArchive it will fill."""
    require_company_admin(user, EXPORT_PERMISSION)
    scope = parse_scope(scope)
    with transaction.atomic():
        # Locking the company row serialises concurrent requests of one company, so the daily limit holds.
        company = Company.objects.select_for_update().select_related("plan").get(pk=user.company_id)
        ensure_plan_allows_export(company)
        ensure_within_rate_limit(company, timezone.now())
        job = create_job(company, DataJob.Kind.EXPORT, requested_by=user, params={"scope": scope})
        archive = ExportArchive.objects.create(company=company, job=job, requested_by=user, scope=scope)
        record(company, user, "export.requested", archive, scope=scope, job_id=job.pk)
    return archive


# --- reading, downloading, deleting --------------------------------------------------------------------------


def visible_exports(company):
    """The export history of a company; exports deleted by an administrator are gone from it."""
    return (
        ExportArchive.objects.filter(company=company)
        .exclude(status=ExportArchive.Status.DELETED)
        .select_related("job")
        .order_by("-id")
    )


def export_state(archive):
    """One word for where an export is: queued, running, succeeded, failed, cancelled or expired."""
    Status = ExportArchive.Status
    if archive.status == Status.READY:
        return "succeeded"
    if archive.status in (Status.EXPIRED, Status.FAILED, Status.DELETED):
        return archive.status
    if archive.job.state == DataJob.State.SUCCEEDED:  # finishing touches between publishing and the job's end
        return "running"
    return archive.job.state


def download_filename(archive):
    return f"keel-export-{archive.company.slug}-{archive.created_at:%Y-%m-%d}-{archive.pk}.zip"


def do_open_export_download(user, archive):
    """The archive file, opened for reading, once the user may have it; the download is audited."""
    require_company_admin(user, EXPORT_PERMISSION)
    state = export_state(archive)
    if state == "expired":
        raise Gone(
            f"This export expired at {archive.expires_at:%Y-%m-%d %H:%M} UTC and its file was deleted. "
            "Start a new export.",
            code="export_expired",
        )
    if state in ("failed", "cancelled"):
        reason = archive.job.error or "It did not finish."
        raise Conflict(f"This export has no file: {reason} Start a new export.", code="export_failed")
    if state != "succeeded":
        raise Conflict("This export is still being prepared. Download it once it is ready.", code="export_not_ready")
    try:
        handle = default_storage.open(archive.file_path, "rb")
    except (FileNotFoundError, OSError):
        ExportArchive.objects.filter(pk=archive.pk).update(status=ExportArchive.Status.EXPIRED, file_path="")
        raise Gone(
            "The file of this export is no longer available. Start a new export.", code="export_expired"
        ) from None
    record(archive.company, user, "export.downloaded", archive, size=archive.size, sha256=archive.sha256)
    return handle


def do_delete_export(user, archive):
    """Delete an export early: its file now, its entry from the history; a running one is cancelled."""
    require_company_admin(user, EXPORT_PERMISSION)
    if archive.job.is_active:
        request_cancel(archive.job)
    ExportArchive.objects.filter(pk=archive.pk).update(status=ExportArchive.Status.DELETED, file_path="")
    _delete_stored(archive.file_path)
    record(archive.company, user, "export.deleted", archive, state=export_state(archive))


def _delete_stored(name):
    if name:
        try:
            default_storage.delete(name)
        except OSError:
            logger.warning("could not delete export file %s", name, exc_info=True)


# --- expiry (periodic housekeeping run by the worker) ------------------------------------------------------------


def expire_exports(now=None):
    """Delete the files of exports past their expiry and mark them expired. Returns the archives expired."""
    now = now or timezone.now()
    expired = []
    for archive in ExportArchive.objects.filter(status=ExportArchive.Status.READY, expires_at__lte=now):
        marked = ExportArchive.objects.filter(pk=archive.pk, status=ExportArchive.Status.READY).update(
            status=ExportArchive.Status.EXPIRED, file_path=""
        )
        if marked:
            _delete_stored(archive.file_path)
            record(archive.company_id, "Keel", "export.expired", archive, expired_at=now.isoformat())
            expired.append(archive.pk)
    return expired


register_periodic(expire_exports)


# --- the job -----------------------------------------------------------------------------------------------------


def final_storage_name(archive):
    return company_folder(archive.company_id, "exports", str(archive.pk), download_filename(archive))


def partial_storage_name(archive, attempt):
    # One name per attempt: a runner presumed dead but still alive never writes into its successor's file.
    return company_folder(archive.company_id, "exports", "partial", f"export-{archive.pk}-attempt-{attempt}.zip")


def _local_path(storage_name, create=True):
    """Where a partial archive is written: inside the storage when it is a local folder (so publishing is a
    rename on the same disk), otherwise in the data folder until it is uploaded."""
    try:
        path = default_storage.path(storage_name)
    except NotImplementedError:
        path = str(settings.DATA_DIR / "tmp" / storage_name)
    if create:
        os.makedirs(os.path.dirname(path), exist_ok=True)
    return path


def _remove_partials(archive):
    """Remove the half-written files of earlier attempts (a worker killed mid-export leaves one behind)."""
    folder = os.path.dirname(_local_path(partial_storage_name(archive, 0), create=False))
    pattern = re.compile(rf"^export-{archive.pk}-attempt-\d+\.zip$")
    try:
        names = os.listdir(folder)
    except OSError:  # no partial folder (yet): nothing to remove
        return
    for name in names:
        if pattern.match(name):
            os.remove(os.path.join(folder, name))


def _store(local_path, storage_name):
    """Move the finished archive to its storage name, in one step for local storage."""
    try:
        target = default_storage.path(storage_name)
    except NotImplementedError:
        default_storage.delete(storage_name)
        with open(local_path, "rb") as handle:
            stored = default_storage.save(storage_name, File(handle))
        os.remove(local_path)
        return stored
    os.makedirs(os.path.dirname(target), exist_ok=True)
    os.replace(local_path, target)
    return storage_name


def _write_partial(archive, job, progress):
    """Write the archive under the attempt's partial name; removed again if anything goes wrong."""
    path = _local_path(partial_storage_name(archive, job.attempts))
    try:
        with open(path, "wb") as handle:
            written = exporter.write_archive(archive.company, archive.scope, handle, progress)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        if os.path.exists(path):
            os.remove(path)
        raise
    return path, written


def run_export(job, progress):
    """The ``export`` job. Restartable at any point: each attempt writes the whole archive again from a fresh
    snapshot under its own partial name, and only a complete, checksummed archive is ever published."""
    archive = ExportArchive.objects.select_related("company", "requested_by").filter(job=job).first()
    if archive is None:
        raise JobFailed("The export record was removed before the export could run.")
    if archive.status == ExportArchive.Status.READY:  # published just before a crash: only the ending is left
        job.result = _result(archive)
        return
    if archive.status != ExportArchive.Status.PENDING:  # deleted by an administrator meanwhile
        job.result = {"archive_id": archive.pk, "status": archive.status}
        return
    _remove_partials(archive)
    path, written = _write_partial(archive, job, progress)
    progress.checkpoint()
    progress.step("Publishing the archive")
    name = _store(path, final_storage_name(archive))
    now = timezone.now()
    published = ExportArchive.objects.filter(pk=archive.pk, status=ExportArchive.Status.PENDING).update(
        status=ExportArchive.Status.READY,
        file_path=name,
        size=written.size,
        sha256=written.sha256,
        row_counts=written.row_counts,
        finished_at=now,
        expires_at=now + timedelta(hours=settings.KEEL_EXPORT_TTL_HOURS),
    )
    if not published:  # deleted while it was being written: the file must not outlive the deletion
        _delete_stored(name)
        job.result = {"archive_id": archive.pk, "status": "deleted"}
        return
    archive.refresh_from_db()
    record(archive.company, "Keel", "export.completed", archive, size=archive.size, sha256=archive.sha256)
    _notify_ready(archive)
    job.result = _result(archive)


def _result(archive):
    rows = sum(archive.row_counts.values())
    return {
        "archive_id": archive.pk,
        "size": archive.size,
        "sha256": archive.sha256,
        "rows": archive.row_counts,
        "summary": f"The archive is ready: {filesizeformat(archive.size)}, {rows:,} rows.",
    }


def _notify_ready(archive):
    notify(
        archive.requested_by,
        "Your Keel export is ready",
        f"The export of {archive.company.name}'s data you requested is ready: {archive.size:,} bytes, "
        f"SHA-256 {archive.sha256}. Download it before {archive.expires_at:%Y-%m-%d %H:%M} UTC, "
        "when it expires and is deleted.",
        EXPORT_PAGE,
    )


def export_failed(job):
    """After the export failed for good: no file is kept, the requester is told why."""
    archive = ExportArchive.objects.select_related("company", "requested_by").filter(job=job).first()
    if archive is None:
        return
    ExportArchive.objects.filter(pk=archive.pk, status=ExportArchive.Status.PENDING).update(
        status=ExportArchive.Status.FAILED, finished_at=timezone.now()
    )
    record(archive.company, "Keel", "export.failed", archive, error=job.error)
    notify(
        archive.requested_by,
        "Your Keel export failed",
        f"The export of {archive.company.name}'s data you requested failed: {job.error} "
        "Nothing was changed; you can start a new export.",
        EXPORT_PAGE,
    )
    _remove_partials(archive)


register(DataJob.Kind.EXPORT, run_export, on_failed=export_failed)
