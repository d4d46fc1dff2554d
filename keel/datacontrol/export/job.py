"""The ``export`` job: writes the archive of an ExportArchive, publishes it once complete, tells the requester.

Each attempt writes the whole archive again from a fresh snapshot under its own partial name; only a complete,
checksummed archive is ever published (docs/export.md, "How it works").
"""

import os
import re
from datetime import timedelta

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils import timezone

from keel.accounts.notify import notify
from keel.audit.actions import record
from keel.datacontrol.backups import delivery
from keel.datacontrol.backups.encryption import Encryption, EncryptionTooLarge, encrypt_file
from keel.datacontrol.export.actions import delete_stored, download_filename
from keel.datacontrol.export.archive import write_archive
from keel.datacontrol.models import ExportArchive
from keel.integrations import crypto
from keel.jobs import outbox
from keel.jobs.models import DataJob
from keel.jobs.progress import JobFailed
from keel.jobs.registry import register
from keel.storage import company_folder


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
    pattern = re.compile(rf"^export-{archive.pk}-attempt-\d+\.zip(\.age)?$")
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
            written = write_archive(archive.company, archive.scope, handle, progress, job.params.get("batch_size"))
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
    if archive.status == ExportArchive.Status.READY:  # published before a crash: only delivery and the ending are left
        delivery.deliver(job, archive, progress)
        _complete(job, archive)
        return
    if archive.status != ExportArchive.Status.PENDING:  # deleted by an administrator meanwhile
        job.result = {"archive_id": archive.pk, "status": archive.status}
        return
    _remove_partials(archive)
    path, written = _write_partial(archive, job, progress)
    progress.checkpoint()
    path, encrypted = _encrypt(archive, path, progress)
    progress.step("Publishing the archive")
    name = _store(path, final_storage_name(archive))
    now = timezone.now()
    published = ExportArchive.objects.filter(pk=archive.pk, status=ExportArchive.Status.PENDING).update(
        status=ExportArchive.Status.READY,
        file_path=name,
        size=written.size,
        sha256=written.sha256,
        row_counts=written.row_counts,
        encrypted_size=encrypted[0] if encrypted else None,
        encrypted_sha256=encrypted[1] if encrypted else "",
        encrypted_passphrase="",  # its only use is over: it is not kept
        finished_at=now,
        expires_at=_expiry(archive, now),
    )
    if not published:  # deleted while it was being written: the file must not outlive the deletion
        delete_stored(name)
        job.result = {"archive_id": archive.pk, "status": "deleted"}
        return
    archive.refresh_from_db()
    delivery.deliver(job, archive, progress)
    _complete(job, archive)


def _expiry(archive, now):
    """A scheduled backup kept in Keel stays until the schedule's retention removes it; others expire."""
    if archive.scheduled and not archive.delivery_state:
        return None
    return now + timedelta(hours=settings.KEEL_EXPORT_TTL_HOURS)


def _encrypt(archive, plain_path, progress):
    """The path to publish and, when encrypted, its (size, sha256). The plain ZIP never leaves the partial folder."""
    if not archive.is_encrypted:
        return plain_path, None
    progress.step("Encrypting the archive")
    passphrase = crypto.decrypt(archive.encrypted_passphrase) if archive.encrypted_passphrase else ""
    if archive.encryption_mode == "passphrase" and not passphrase:
        os.remove(plain_path)
        raise JobFailed("The passphrase of this export can no longer be read; start the export again.")
    encryption = Encryption(archive.encryption_mode, archive.encryption_recipients, passphrase)
    encrypted_path = plain_path + ".age"
    try:
        encrypted = encrypt_file(plain_path, encrypted_path, encryption)
    except BaseException as exc:
        if os.path.exists(encrypted_path):
            os.remove(encrypted_path)
        if isinstance(exc, EncryptionTooLarge):
            raise JobFailed(
                f"The archive is larger than {filesizeformat(settings.KEEL_PASSPHRASE_ARCHIVE_MAX_BYTES)}, the most "
                "Keel encrypts with a passphrase. Encrypt it for a public key (age recipient) instead: no limit."
            ) from None
        raise
    finally:
        os.remove(plain_path)
    return encrypted_path, encrypted


def _complete(job, archive):
    """The result, and the audit event and notice the runner records with the job's final state (keel.jobs.outbox):
    audited exactly once and announced at least once, wherever a worker dies."""
    job.result = _result(archive)
    outbox.on_completion(
        job,
        outbox.audit(archive.company_id, "Keel", "export.completed", archive, size=archive.size, sha256=archive.sha256),
        _ready_notice(archive),
        *delivery.completion_effects(archive),
    )


def _result(archive):
    rows = sum(archive.row_counts.values())
    return {
        "archive_id": archive.pk,
        "size": archive.size,
        "sha256": archive.sha256,
        "rows": archive.row_counts,
        "summary": f"The archive is ready: {filesizeformat(archive.size)}, {rows:,} rows.",
    }


def _ready_notice(archive):
    if archive.expires_at:
        keeping = f"Download it before {archive.expires_at:%Y-%m-%d %H:%M} UTC, when it expires and is deleted."
    else:
        keeping = "It is kept until the backup schedule's retention replaces it."
    if archive.delivered_to:
        keeping = f"It was delivered to {archive.delivered_to}. " + keeping
    return outbox.notice(
        archive.requested_by,
        "Your Keel export is ready",
        f"The export of {archive.company.name}'s data you requested is ready: {archive.size:,} bytes, "
        f"SHA-256 {archive.sha256}. {keeping}",
        reverse("export_data"),
    )


def export_failed(job):
    """After the export failed for good: no file is kept (unless only its delivery failed), the requester (for a
    scheduled backup: every Company Administrator) is told why."""
    archive = ExportArchive.objects.select_related("company", "requested_by").filter(job=job).first()
    if archive is None:
        return
    ExportArchive.objects.filter(pk=archive.pk, status=ExportArchive.Status.PENDING).update(
        status=ExportArchive.Status.FAILED, finished_at=timezone.now()
    )
    ExportArchive.objects.filter(pk=archive.pk).update(encrypted_passphrase="")
    record(archive.company, "Keel", "export.failed", archive, error=job.error)
    if archive.scheduled:
        delivery.notify_failed_backup(archive, job.error)
    else:
        notify(
            archive.requested_by,
            "Your Keel export failed",
            f"The export of {archive.company.name}'s data you requested failed: {job.error} "
            "Nothing was changed; you can start a new export.",
            reverse("export_data"),
        )
    _remove_partials(archive)


register(DataJob.Kind.EXPORT, run_export, on_failed=export_failed)
