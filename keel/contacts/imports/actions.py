"""The import's actions: store a checked upload, start its job, or both at once.

Pages, the API and ``keel import`` call these ``do_*`` functions; each checks the actor's "Import contacts"
permission. The job itself is in job.py.
"""

import json
import posixpath
import uuid
from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from keel.accounts.access import require_permission
from keel.accounts.permissions import IMPORT_CONTACTS
from keel.audit.actions import record
from keel.contacts.guards import check_crm_writable, ensure_crm_writable
from keel.contacts.imports import columns as import_columns
from keel.contacts.imports import engine
from keel.contacts.imports.files import META_NAME, TOKEN, UPLOAD_NAME, folder_for, save_file
from keel.errors import Conflict, NotFound
from keel.jobs.models import DataJob
from keel.jobs.runner import active_exclusive_job, refusal_for
from keel.jobs.tasks import create_job
from keel.storage import delete_folder


@dataclass
class Upload:
    """A checked file stored under companies/<id>/imports/<token>/, waiting for its import to be started."""

    company_id: int
    token: str
    folder: str
    meta: dict

    @property
    def header(self):
        return self.meta["header"]

    @property
    def detected_columns(self):
        return import_columns.detect_columns(self.header)


def do_upload_import_file(company, uploaded, *, actor, encoding="utf-8"):
    """Check the whole file (refusing it with the reason if it cannot be imported) and store it."""
    require_permission(actor, IMPORT_CONTACTS)
    check_crm_writable(company)  # before storing the file; starting the import is guarded in its transaction
    _refuse_while_busy(company)
    if uploaded is None:
        raise engine.FileRefused("Choose a CSV file to import.", field="file", code="no_file")
    filename = posixpath.basename((uploaded.name or "contacts.csv").replace("\\", "/"))[:200] or "contacts.csv"
    found = engine.inspect_upload(uploaded, uploaded.size, filename, encoding)
    token = uuid.uuid4().hex
    folder = folder_for(company.pk, token)
    uploaded.seek(0)
    save_file(f"{folder}/{UPLOAD_NAME}", uploaded)
    meta = {
        "filename": filename,
        "size": uploaded.size,
        "encoding": found.encoding,
        "delimiter": found.delimiter,
        "header": found.header,
        "sample": found.sample,
        "data_offset": found.data_offset,
        "data_line": found.data_line,
        "uploaded_by": actor.pk,
        "uploaded_at": timezone.now().isoformat(),
    }
    save_file(f"{folder}/{META_NAME}", ContentFile(json.dumps(meta).encode()))
    return Upload(company.pk, token, folder, meta)


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
    return Upload(company.pk, token, folder, meta)


def job_for_upload(company, token):
    """The import started from this upload, if any (its files may be gone: it may have ended)."""
    if not TOKEN.fullmatch(token or ""):
        return None
    folder = folder_for(company.pk, token)
    return DataJob.objects.filter(company=company, kind=DataJob.Kind.IMPORT, params__folder=folder).first()


def do_start_import(upload, *, actor, columns=None, mapping=None):
    """Start the import job of a stored upload. ``columns`` (one field per column, as the page sends them) or
    ``mapping`` (``{"<column name>": "<field>"}``, as the API takes it) override the detected columns."""
    require_permission(actor, IMPORT_CONTACTS)
    company = actor.company
    if upload.company_id != company.pk:
        raise NotFound("This upload does not exist.")
    if mapping is not None:
        columns = import_columns.columns_from_mapping(upload.header, mapping)
    else:
        columns = import_columns.check_columns(
            upload.header, columns if columns is not None else upload.detected_columns
        )
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
        job = create_job(company, DataJob.Kind.IMPORT, requested_by=actor, params=params)
        record(company, actor, "import.started", job, file=params["filename"], size=params["size"])
    return job


def do_import_file(company, uploaded, *, actor, mapping=None, encoding="utf-8"):
    """Upload and start in one go (API, command line). A refused start leaves no file behind."""
    upload = do_upload_import_file(company, uploaded, actor=actor, encoding=encoding)
    try:
        return do_start_import(upload, actor=actor, mapping=mapping)
    except Exception:
        delete_folder(upload.folder)
        raise


def _refuse_while_busy(company):
    active = active_exclusive_job(company)
    if active is not None:
        raise refusal_for(active)
