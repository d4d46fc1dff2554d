"""The worker's part of scheduled backups: starting the runs that are due, and the schedule's retention.

``run_due_backups`` is periodic housekeeping of the worker (as the reaper is: no cron, no extra process);
``apply_retention`` is a completion side effect of a successful scheduled run (keel.jobs.outbox), safe to repeat.
"""

from django.db import IntegrityError, transaction
from django.utils import timezone

from keel.audit.actions import record
from keel.datacontrol.actors import SCHEDULER
from keel.datacontrol.backups import delivery
from keel.datacontrol.backups.actions import start_run
from keel.datacontrol.backups.destination import delete_object
from keel.datacontrol.backups.schedule import latest_due, next_run_after
from keel.datacontrol.export.actions import delete_stored
from keel.datacontrol.models import BackupSchedule, ExportArchive
from keel.errors import KeelError
from keel.jobs.registry import register_periodic


def run_due_backups(now=None):
    """Start every schedule's run that is due (periodic housekeeping of the worker). Returns the runs started.

    One run per period even with several workers: the schedule's next run time is moved on with a compare-and-set
    in the transaction that creates the run, and the database refuses a second run for the same period. After a
    downtime the run is made once, for the latest period missed.
    """
    now = now or timezone.now()
    started = []
    due = BackupSchedule.objects.filter(enabled=True, next_run_at__lte=now).select_related("company__plan")
    for schedule in due:
        archive = _run_due(schedule, now)
        if archive is not None:
            started.append(archive)
    return started


def _run_due(schedule, now):
    planned = schedule.next_run_at
    period = latest_due(schedule, planned, now)
    following = next_run_after(schedule, now)
    if not schedule.company.is_active:  # being deleted: nothing more is exported
        return None
    try:
        with transaction.atomic():
            moved = BackupSchedule.objects.filter(pk=schedule.pk, next_run_at=planned).update(next_run_at=following)
            if not moved:
                return None  # another worker has taken this period
            return start_run(schedule, SCHEDULER, scheduled_for=period)
    except IntegrityError:  # this period already has its run (the schedule was saved again meanwhile)
        BackupSchedule.objects.filter(pk=schedule.pk, next_run_at=planned).update(next_run_at=following)
    except KeelError as exc:  # e.g. the plan no longer includes exports: skipped, and said so in the audit log
        BackupSchedule.objects.filter(pk=schedule.pk, next_run_at=planned).update(next_run_at=following)
        record(schedule.company, SCHEDULER, "backup.skipped", schedule, reason=exc.message, period=period.isoformat())
    return None


register_periodic(run_due_backups)


def apply_retention(company_id):
    """Keep the schedule's ``keep`` newest successful backups; older ones are removed from Keel's storage and, for
    those Keel delivered, from the company's bucket (only the objects Keel wrote). Safe to repeat."""
    schedule = BackupSchedule.objects.filter(company_id=company_id).first()
    if schedule is None:
        return 0
    kept = (
        ExportArchive.objects.filter(company_id=company_id, scheduled=True)
        .filter(status__in=(ExportArchive.Status.READY, ExportArchive.Status.EXPIRED))
        .exclude(delivery_state__in=(delivery.FAILED, delivery.PENDING))
        .order_by("-created_at", "-id")
    )
    destination = delivery.destination_of(schedule)
    removed = 0
    for archive in kept[schedule.keep :]:
        removed += _retire(archive, destination)
    return removed


def _retire(archive, destination):
    """Remove one old backup; its audit event only when something was removed. An object in a bucket that is no
    longer the schedule's is left alone: Keel no longer holds the keys to it."""
    changed = ExportArchive.objects.filter(pk=archive.pk, status=ExportArchive.Status.READY).update(
        status=ExportArchive.Status.EXPIRED, file_path=""
    )
    if changed:
        delete_stored(archive.file_path)
    prefix = f"s3://{destination.bucket}/" if destination else None
    if archive.delivery_state == delivery.DELIVERED and prefix and archive.delivered_to.startswith(prefix):
        if delete_object(destination, archive.delivered_to[len(prefix) :]):
            changed += ExportArchive.objects.filter(pk=archive.pk).update(delivery_state=delivery.REMOVED)
    if changed:
        record(archive.company_id, "Keel", "backup.retired", archive, delivered_to=archive.delivered_to)
    return 1 if changed else 0
