"""Exports of company data: the actions (start, download, delete) and their expiry.

Views, API and the command line all go through the ``do_*`` functions here, which check the actor
(``keel.datacontrol.actors``). The archive is written by the ``export`` job (``keel.datacontrol.export.job``).
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from keel.accounts.models import Company, Plan
from keel.audit.actions import record
from keel.datacontrol.actors import SCHEDULER, is_operator, requesting_user, require_admin_or_operator
from keel.datacontrol.backups.encryption import Encryption
from keel.datacontrol.export.scopes import SCOPES, normalize_scope
from keel.datacontrol.models import ExportArchive
from keel.errors import Conflict, Forbidden, InvalidInput, KeelError, RateLimited
from keel.integrations import crypto
from keel.jobs.models import DataJob
from keel.jobs.registry import register_periodic
from keel.jobs.runner import request_cancel
from keel.jobs.tasks import create_job

logger = logging.getLogger("keel.datacontrol")

EXPORT_PERMISSION = "export_company_data"
RATE_WINDOW = timedelta(days=1)
# In the job's parameters of an export an operator started: the tool's name.
OPERATOR_PARAM = "operator"


class Gone(KeelError):
    status = 410
    code = "gone"


# --- starting ----------------------------------------------------------------------------------------------------


def parse_scope(scope):
    """The chosen scopes in canonical order (None = all), or a 422 naming what is unknown or missing."""
    try:
        chosen = normalize_scope(scope)
    except ValueError as exc:
        unknown = exc.args[0]
        names = ", ".join(f"“{name}”" for name in unknown)
        raise InvalidInput(
            f"Unknown data scope {names}. Choose from: {', '.join(SCOPES)}.",
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
    # Failed exports were Keel's fault and do not count; deleted ones do, or deleting would lift the limit. Those
    # an operator started on the command line are not the company's: they do not count either.
    return (
        ExportArchive.objects.filter(company=company, created_at__gt=since)
        .exclude(status=ExportArchive.Status.FAILED)
        .exclude(job__state=DataJob.State.FAILED)
        .exclude(job__params__has_key=OPERATOR_PARAM)
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


def do_start_export(
    company, scope=None, *, actor, batch_size=None, encryption=None, backup=False, scheduled_for=None, to_bucket=False
):
    """Start an export of ``company``: an ``export`` job and the ExportArchive it will fill.

    A Company Administrator is held to the plan and its daily allowance; an operator (the command line) is not,
    and the audit log records the request as ``export.command_line``. ``batch_size`` (rows read per query) is
    for operators measuring an export; it defaults to ``KEEL_BATCH_SIZE``. ``encryption`` (an ``Encryption``)
    encrypts the archive with age.

    ``backup`` marks a run of the company's backup schedule (docs/backups.md): by the worker (actor ``SCHEDULER``,
    for the period ``scheduled_for``: held to the plan, not to the daily allowance) or "Run now" by an administrator
    (held to both); ``to_bucket`` delivers it to the schedule's bucket once written.
    """
    require_admin_or_operator(actor, EXPORT_PERMISSION)
    scope = parse_scope(scope)
    encryption = encryption or Encryption()
    params = {"scope": scope}
    if is_operator(actor):
        params[OPERATOR_PARAM] = actor
    if batch_size:
        params["batch_size"] = int(batch_size)
    with transaction.atomic():
        # Locking the company row serialises concurrent requests of one company, so the daily limit holds.
        company = Company.objects.select_for_update().select_related("plan").get(pk=company.pk)
        if not is_operator(actor) or actor == SCHEDULER:
            ensure_plan_allows_export(company)
        if not is_operator(actor):
            ensure_within_rate_limit(company, timezone.now())
        user = requesting_user(actor)
        job = create_job(company, DataJob.Kind.EXPORT, requested_by=user, params=params)
        archive = ExportArchive.objects.create(
            company=company,
            job=job,
            requested_by=user,
            scope=scope,
            scheduled=backup,
            scheduled_for=scheduled_for,
            delivery_state="pending" if to_bucket else "",
            **encryption_fields(encryption),
        )
        action = _start_action(actor, backup)
        record(company, actor, action, archive, scope=scope, job_id=job.pk, encryption=encryption.mode)
    return archive


def encryption_fields(encryption):
    """The archive's encryption columns: the passphrase only encrypted at rest, and only until the archive is
    written (the job erases it)."""
    stored = encryption.stored_passphrase or (crypto.encrypt(encryption.passphrase) if encryption.passphrase else "")
    return {
        "encryption_mode": encryption.mode,
        "encryption_recipients": list(encryption.recipients),
        "encrypted_passphrase": stored,
    }


def _start_action(actor, backup):
    if actor == SCHEDULER:
        return "export.scheduled"
    if is_operator(actor):
        return "export.command_line"
    return "backup.run_now" if backup else "export.requested"


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
    """``keel-export-<slug>-<date>-<id>.zip``, or ``….zip.age`` when it is encrypted."""
    name = f"keel-export-{archive.company.slug}-{archive.created_at:%Y-%m-%d}-{archive.pk}.zip"
    return name + ".age" if archive.is_encrypted else name


def download_content_type(archive):
    return "application/octet-stream" if archive.is_encrypted else "application/zip"


def do_open_export_download(archive, *, actor):
    """The archive file, opened for reading, once the actor may have it; the download is audited."""
    require_admin_or_operator(actor, EXPORT_PERMISSION)
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
    record(archive.company, actor, "export.downloaded", archive, size=archive.size, sha256=archive.sha256)
    return handle


def do_delete_export(archive, *, actor):
    """Delete an export early: its file now, its entry from the history; a running one is cancelled."""
    require_admin_or_operator(actor, EXPORT_PERMISSION)
    if archive.job.is_active:
        request_cancel(archive.job)
    ExportArchive.objects.filter(pk=archive.pk).update(status=ExportArchive.Status.DELETED, file_path="")
    delete_stored(archive.file_path)
    record(archive.company, actor, "export.deleted", archive, state=export_state(archive))


def delete_stored(name):
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
            delete_stored(archive.file_path)
            record(archive.company_id, "Keel", "export.expired", archive, expired_at=now.isoformat())
            expired.append(archive.pk)
    return expired


register_periodic(expire_exports)
