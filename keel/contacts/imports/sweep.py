"""Housekeeping of import files, run by the workers beside the reaper: uploads nobody started, leftovers of imports
whose clean-up was interrupted, and old error reports."""

import time
from datetime import timedelta

from django.core.files.storage import default_storage
from django.db.models import Q
from django.utils import timezone

from keel.contacts.imports.files import META_NAME, REPORT_NAME, folder_for
from keel.contacts.imports.job import finish_import
from keel.jobs.models import DataJob
from keel.jobs.registry import register_periodic
from keel.storage import company_folder, company_ids_with_files, delete_folder, list_folder

ABANDONED_UPLOAD_HOURS = 24  # an uploaded file whose import was never started is deleted after this
REPORT_RETENTION_DAYS = 30  # error reports (they hold rows of the file) are deleted after this
SWEEP_EVERY_SECONDS = 300

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
            finish_import(job, job.state, announce=False)  # announced from the job outbox already


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


register_periodic(sweep_import_files)
