"""Delivering a finished backup to the company's bucket, and telling the administrators when a scheduled run fails.

Delivery is the export job's last step, after the archive is published in Keel's storage: a worker that dies
during the upload leaves the archive ``ready`` with its delivery ``pending``, and the job's next attempt only
uploads again (docs/backups.md, "Delivery to your own storage").
"""

from django.conf import settings
from django.core.files.storage import default_storage
from django.urls import reverse

from keel.accounts.notify import notify
from keel.datacontrol.backups.destination import DeliveryFailed, S3Destination, upload
from keel.datacontrol.models import BackupSchedule, ExportArchive
from keel.integrations import crypto
from keel.jobs import outbox
from keel.jobs.progress import JobFailed

# A delivery is pending, delivered or failed; "removed" once retention deleted the object Keel wrote.
PENDING, DELIVERED, FAILED, REMOVED = "pending", "delivered", "failed", "removed"


def destination_of(schedule):
    """The schedule's bucket with its secret decrypted, or None when it delivers to Keel only."""
    if schedule is None or schedule.destination_kind != BackupSchedule.Destination.S3:
        return None
    secret = crypto.decrypt(schedule.encrypted_secret_access_key) if schedule.encrypted_secret_access_key else ""
    return S3Destination(
        endpoint_url=schedule.endpoint_url,
        region=schedule.region,
        bucket=schedule.bucket,
        prefix=schedule.prefix,
        access_key_id=schedule.access_key_id,
        secret_access_key=secret or "",
    )


def deliver(job, archive, progress):
    """Upload ``archive`` to the schedule's bucket if it is still to be delivered. A failed upload is tried again
    by the job's next attempt (without writing the archive again); after the last attempt the job fails and the
    archive stays downloadable from Keel."""
    if archive.delivery_state != PENDING:
        return
    from keel.datacontrol.export.actions import download_filename  # the export package imports this module

    destination = destination_of(BackupSchedule.objects.filter(company_id=archive.company_id).first())
    if destination is None:
        _record(archive, FAILED, error="The backup schedule's bucket was removed before the archive was delivered.")
        return
    filename = download_filename(archive)
    progress.step(f"Delivering to {destination.url_of(destination.key_for(filename))}")
    size = archive.encrypted_size or archive.size
    try:
        with default_storage.open(archive.file_path, "rb") as handle:
            key = upload(destination, handle, filename, size)
    except DeliveryFailed as exc:
        if job.attempts < settings.KEEL_JOB_MAX_ATTEMPTS and not exc.permanent:
            raise  # the runner queues the job again: the next attempt uploads again
        _record(archive, FAILED, error=exc.reason)
        raise JobFailed(
            f"The archive was written, but its delivery to the bucket “{destination.bucket}” failed: {exc.reason} "
            "It can be downloaded from Keel until it expires."
        ) from None
    _record(archive, DELIVERED, delivered_to=destination.url_of(key))


def _record(archive, state, error="", delivered_to=""):
    ExportArchive.objects.filter(pk=archive.pk).update(
        delivery_state=state, delivery_error=error[:500], delivered_to=delivered_to
    )
    archive.delivery_state, archive.delivery_error, archive.delivered_to = state, error[:500], delivered_to


def completion_effects(archive):
    """After a scheduled backup succeeded: the schedule's retention (safe to repeat)."""
    if not archive.scheduled:
        return []
    return [outbox.call("keel.datacontrol.backups.job.apply_retention", company_id=archive.company_id)]


def notify_failed_backup(archive, error):
    """Every Company Administrator hears of a failed scheduled backup: the schedule is the company's, not one
    person's."""
    from keel.accounts.models import User
    from keel.accounts.permissions import ADMIN

    admins = User.objects.filter(company_id=archive.company_id, is_active=True, role__kind=ADMIN)
    for admin in admins:
        notify(
            admin,
            "A Keel backup failed",
            f"The scheduled backup of {archive.company.name}'s data started {archive.created_at:%Y-%m-%d %H:%M} UTC "
            f"failed: {error}",
            reverse("backup_schedule"),
        )
