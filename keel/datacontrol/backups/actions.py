"""Scheduled backups: setting the company's schedule, running it, and keeping only its last archives.

Views and API go through the ``do_*`` functions here, the worker through ``keel.datacontrol.backups.job``; a run is an
ordinary ``export`` job (``keel.datacontrol.export``) marked as scheduled (docs/backups.md).
"""

from django.db import transaction
from django.utils import timezone

from keel.audit.actions import record
from keel.datacontrol.actors import require_admin_or_operator
from keel.datacontrol.backups import delivery
from keel.datacontrol.backups.destination import test_destination
from keel.datacontrol.backups.encryption import Encryption
from keel.datacontrol.backups.schedule import next_run_after
from keel.datacontrol.backups.settings_form import parse_destination, parse_schedule
from keel.datacontrol.export.actions import EXPORT_PERMISSION, do_start_export, ensure_plan_allows_export
from keel.datacontrol.models import BackupSchedule, ExportArchive
from keel.errors import Conflict

LAST_RUNS_SHOWN = 10


def get_schedule(company):
    return BackupSchedule.objects.filter(company=company).first()


def last_runs(company, limit=LAST_RUNS_SHOWN):
    """The schedule's latest runs (scheduled and "Run now"), newest first."""
    return (
        ExportArchive.objects.filter(company=company, scheduled=True)
        .exclude(status=ExportArchive.Status.DELETED)
        .select_related("job", "company")
        .order_by("-id")[:limit]
    )


def do_set_backup_schedule(company, data, *, actor):
    """Create or replace the company's schedule from the API's fields (``keel.datacontrol.backups.settings_form``).

    Secrets given (passphrase, secret access key) are stored encrypted at rest and never shown again; left out,
    the stored ones are kept.
    """
    require_admin_or_operator(actor, EXPORT_PERMISSION)
    ensure_plan_allows_export(company)
    existing = get_schedule(company)
    fields = parse_schedule(data, existing)
    now = timezone.now()
    with transaction.atomic():
        schedule, _ = BackupSchedule.objects.select_for_update().get_or_create(company=company, defaults=fields)
        for name, value in fields.items():
            setattr(schedule, name, value)
        schedule.updated_by = actor if getattr(actor, "pk", None) else None
        schedule.updated_at = now
        schedule.next_run_at = next_run_after(schedule, now) if schedule.enabled else None
        schedule.save()
        record(company, actor, "backup.schedule_set", schedule, **describe_for_audit(schedule))
    return schedule


def describe_for_audit(schedule):
    """What changed, without any secret."""
    return {
        "enabled": schedule.enabled,
        "frequency": schedule.frequency,
        "hour_utc": schedule.hour_utc,
        "scope": schedule.scope,
        "keep": schedule.keep,
        "encryption": schedule.encryption_mode,
        "destination": schedule.destination_kind,
        "bucket": schedule.bucket,
    }


def do_delete_backup_schedule(company, *, actor):
    """Stop scheduled backups. The archives already made stay until they expire or are deleted."""
    require_admin_or_operator(actor, EXPORT_PERMISSION)
    deleted, _ = BackupSchedule.objects.filter(company=company).delete()
    if deleted:
        record(company, actor, "backup.schedule_deleted")


def do_run_backup_now(company, *, actor):
    """Run the schedule now, as an administrator's export (counted against the daily allowance)."""
    require_admin_or_operator(actor, EXPORT_PERMISSION)
    schedule = get_schedule(company)
    if schedule is None:
        raise Conflict("There is no backup schedule to run. Set one first.", code="no_backup_schedule")
    return start_run(schedule, actor)


def do_test_backup_destination(company, data, *, actor):
    """Write, read back and delete a small object at the given (or the saved) bucket."""
    require_admin_or_operator(actor, EXPORT_PERMISSION)
    ensure_plan_allows_export(company)  # an outbound call is made only for a company that may have backups
    existing = get_schedule(company)
    if data:
        destination = parse_destination(data, existing, secret_required=True, as_s3=True)
    else:
        destination = delivery.destination_of(existing)
        if destination is None:
            raise Conflict("The backup schedule has no bucket to test.", code="no_backup_schedule")
    test_destination(destination)
    record(company, actor, "backup.destination_tested", endpoint=destination.endpoint_url, bucket=destination.bucket)


def start_run(schedule, actor, scheduled_for=None):
    """An export job running ``schedule`` (by the worker for the period ``scheduled_for``, or Run now)."""
    encryption = Encryption(
        schedule.encryption_mode, schedule.encryption_recipients, stored_passphrase=schedule.encrypted_passphrase
    )
    return do_start_export(
        schedule.company,
        schedule.scope or None,
        actor=actor,
        encryption=encryption,
        backup=True,
        scheduled_for=scheduled_for,
        to_bucket=schedule.destination_kind == BackupSchedule.Destination.S3,
    )
