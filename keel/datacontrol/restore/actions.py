"""Restoring a company from an export archive: the checks answered at once, and the start of the ``restore`` job.

Views, API and the command line call ``do_preview_restore`` and ``do_start_restore``; the job itself is in
``keel.datacontrol.restore.job`` (docs/restore.md).
"""

from django.apps import apps
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Max

from keel.accounts.models import Company
from keel.audit.actions import record
from keel.contacts.guards import lock_company
from keel.datacontrol import graph
from keel.datacontrol.actors import is_operator, requesting_user, require_admin_or_operator
from keel.datacontrol.restore.archive import Archive
from keel.datacontrol.restore.encryption import plain_archive
from keel.datacontrol.restore.verify import file_sha256, verify_or_raise
from keel.errors import Conflict
from keel.jobs.models import DataJob
from keel.jobs.runner import active_exclusive_job, refusal_for
from keel.jobs.tasks import create_job
from keel.storage import company_folder

RESTORE_PERMISSION = "restore_company_data"
# Archives up to this size are verified completely while the administrator waits; larger ones by the job, first.
INLINE_VERIFY_BYTES = 20 * 1024 * 1024
# What makes a company "not empty" for a restore: CRM data, and connections to outside providers.
HOLDINGS = {
    "contacts.Contact": "contacts",
    "contacts.Tag": "tags",
    "contacts.ContactList": "lists",
    "marketing.Campaign": "campaigns",
    "marketing.Workflow": "workflows",
    "integrations.IntegrationConnection": "integrations",
}


class CompanyNotEmpty(Conflict):
    code = "company_not_empty"


def holdings(company):
    """``{"contacts": 3, ...}`` for what the company holds that a restore would have to be merged with."""
    held = {}
    for label, name in HOLDINGS.items():
        count = apps.get_model(label).objects.filter(company=company)[:1000].count()
        if count:
            held[name] = count
    return held


def ensure_company_empty(company):
    held = holdings(company)
    if held:
        listed = ", ".join(f"{count:,}{'+' if count == 1000 else ''} {name}" for name, count in held.items())
        raise CompanyNotEmpty(
            f"This company already holds data ({listed}). A restore fills an empty company only: delete all CRM "
            "records first, or restore into a new company.",
            holds=held,
        )


def ensure_no_operation(company):
    active = active_exclusive_job(company)
    if active is not None:
        raise refusal_for(active)


def do_preview_restore(company, upload, *, actor, passphrase=None, identity=None):
    """What an uploaded archive holds (its source and rows per entity), checked, without writing anything."""
    require_admin_or_operator(actor, RESTORE_PERMISSION)
    archive = open_checked(plain_archive(upload, passphrase=passphrase, identity=identity))
    try:
        return {"source": archive.source, "rows": archive.row_counts()}
    finally:
        archive.close()


def open_checked(upload):
    """The archive of an upload, refused at once when it is not a Keel export of a version this Keel reads; a small
    one is verified completely (a large one is verified by the job before it writes)."""
    size = upload.seek(0, 2)
    upload.seek(0)
    archive = Archive(upload)
    if size <= INLINE_VERIFY_BYTES:
        verify_or_raise(archive)
        archive.verified = True
    return archive


def do_start_restore(company, upload, *, actor, invite_users=False, passphrase=None, identity=None):
    """Start restoring ``upload`` (a Keel export archive, plain or encrypted with age) into the empty ``company`` as
    a ``restore`` job. An encrypted archive is decrypted here, and the job reads the decrypted copy: the passphrase
    or identity is never stored."""
    require_admin_or_operator(actor, RESTORE_PERMISSION)
    ensure_company_empty(company)
    ensure_no_operation(company)
    upload = plain_archive(upload, passphrase=passphrase, identity=identity)
    archive = open_checked(upload)
    source = archive.source
    archive.close()
    # The job need not check again the very bytes checked here: it compares their SHA-256 instead.
    verified_sha256 = file_sha256(upload) if archive.verified else None
    user = requesting_user(actor)
    upload.seek(0)
    stored = default_storage.save(
        company_folder(company.pk, "restores", "archive.zip"), File(upload, name="archive.zip")
    )
    try:
        with transaction.atomic():
            company = lock_company(company) or Company.objects.get(pk=company.pk)
            ensure_company_empty(company)
            params = {"archive": stored, "invite_users": bool(invite_users), "source": source}
            if verified_sha256:
                params["verified_sha256"] = verified_sha256
            if is_operator(actor):
                params["operator"] = actor
            job = create_job(company, DataJob.Kind.RESTORE, requested_by=user, params=params)
            record(company, actor, "restore.requested", job, source=source, invite_users=bool(invite_users))
            # Taken after the request's own audit event: everything of the company above these ids is the restore's.
            job.params["watermarks"] = watermarks()
            job.save(update_fields=["params"])
    except Exception:
        default_storage.delete(stored)
        raise
    return job


def watermarks():
    """The highest id of every tenant table now: rows a restore writes get higher ids (ids are never reused)."""
    return {
        graph.label(model): model.objects.aggregate(top=Max("pk"))["top"] or 0
        for model in graph.tenant_models()
        if graph.label(model) != "jobs.DataJob"
    }
