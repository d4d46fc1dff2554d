"""/api/v1/exports: start, list, read, download and delete exports of company data."""

from datetime import datetime

from django.http import FileResponse
from django.urls import reverse
from ninja import Field, Router, Schema, Status
from pydantic import BaseModel

from keel.accounts.access import require_company_admin
from keel.datacontrol.backups.encryption import MODES, parse_encryption
from keel.datacontrol.export import actions as exports
from keel.datacontrol.export.scopes import SCOPES
from keel.datacontrol.models import ExportArchive
from keel.jobs.api import ProgressOut
from keel.openapi import list_of, one_of
from keel.tenancy import tenant_get

router = Router(tags=["exports"])


EXPORT_STATES = ("queued", "running", "succeeded", "failed", "cancelled", "expired", "deleted")


class EncryptionIn(BaseModel):
    # A plain pydantic model, not a ninja Schema: a Schema would read any value (false, 42) as an object of defaults.
    mode: str = one_of(MODES, "none", description="none, recipients (age public keys) or passphrase (age scrypt)")
    recipients: list[str] | None = Field(None, description="age X25519 public keys (age1…), for mode recipients")
    passphrase: str | None = Field(None, description="write-only; at least 12 characters, for mode passphrase")


class EncryptionOut(Schema):
    mode: str = one_of(MODES)
    recipients: list[str]


class ExportRequest(Schema):
    scope: list[str] | None = list_of(SCOPES, None, description="the data scopes to export; all when left out")
    encryption: EncryptionIn | None = Field(None, description="encrypt the archive with age (.zip.age)")


class ExportOut(Schema):
    id: int
    state: str = one_of(EXPORT_STATES)
    scope: list[str] = list_of(SCOPES)
    progress: ProgressOut
    step: str
    created_at: datetime
    finished_at: datetime | None
    expires_at: datetime | None
    size: int | None
    sha256: str | None
    row_counts: dict[str, int]
    error: str | None
    download_url: str | None
    encrypted: bool
    encryption: EncryptionOut
    encrypted_size: int | None = Field(description="size of the .zip.age file, when encrypted")
    encrypted_sha256: str | None = Field(description="SHA-256 of the .zip.age file delivered, when encrypted")
    scheduled: bool = Field(description="a run of the backup schedule (scheduled or Run now)")
    delivered_to: str | None = Field(description="s3://bucket/key Keel wrote the archive to, if delivered")
    delivery_state: str | None = one_of(("pending", "delivered", "failed", "removed", None), None)
    delivery_error: str | None


def export_as_dict(archive):
    """The export object of the API (also polled by the Export Data page)."""
    job = archive.job
    state = exports.export_state(archive)
    succeeded = state == "succeeded"
    return {
        "id": archive.pk,
        "state": state,
        "scope": archive.scope,
        "progress": {
            "done": job.progress_total if succeeded else job.progress_done,
            "total": job.progress_total,
            "percent": 100 if succeeded else job.percent,
        },
        "step": job.step,
        "created_at": archive.created_at,
        "finished_at": archive.finished_at or (job.finished_at if not job.is_active else None),
        "expires_at": archive.expires_at,
        "size": archive.size,
        "sha256": archive.sha256 or None,
        "row_counts": archive.row_counts or {},
        "error": job.error or None,
        "download_url": reverse("api:download_export", args=[archive.pk]) if succeeded else None,
        "encrypted": archive.is_encrypted,
        "encryption": {"mode": archive.encryption_mode, "recipients": archive.encryption_recipients},
        "encrypted_size": archive.encrypted_size,
        "encrypted_sha256": archive.encrypted_sha256 or None,
        "scheduled": archive.scheduled,
        "delivered_to": archive.delivered_to or None,
        "delivery_state": archive.delivery_state or None,
        "delivery_error": archive.delivery_error or None,
    }


def _get(request, export_id):
    require_company_admin(request.user, exports.EXPORT_PERMISSION)
    return tenant_get(
        request.company,
        ExportArchive.objects.select_related("job", "company").exclude(status=ExportArchive.Status.DELETED),
        pk=export_id,
    )


@router.post("/exports", response={202: ExportOut})
def start_export(request, payload: ExportRequest | None = None):
    """Start an export of the company's data (scope: any of contacts, campaigns, workflows, users, integrations,
    audit_log; all when left out), optionally encrypted with age for recipients or with a passphrase."""
    encryption = parse_encryption(payload.encryption.model_dump() if payload and payload.encryption else None)
    archive = exports.do_start_export(
        request.company, payload.scope if payload else None, actor=request.user, encryption=encryption
    )
    return Status(202, export_as_dict(ExportArchive.objects.select_related("job").get(pk=archive.pk)))


@router.get("/exports", response=list[ExportOut])
def list_exports(request):
    """The company's exports, newest first."""
    require_company_admin(request.user, exports.EXPORT_PERMISSION)
    return [export_as_dict(archive) for archive in exports.visible_exports(request.company)]


@router.get("/exports/{int:export_id}", response=ExportOut)
def get_export(request, export_id: int):
    return export_as_dict(_get(request, export_id))


@router.delete("/exports/{int:export_id}", response={204: None})
def delete_export(request, export_id: int):
    """Delete an export now (its file too); a running export is cancelled."""
    exports.do_delete_export(_get(request, export_id), actor=request.user)
    return Status(204, None)


@router.get("/exports/{int:export_id}/download")
def download_export(request, export_id: int):
    """The archive (application/zip). 409 ``export_not_ready`` while it runs, 410 ``export_expired`` after expiry."""
    archive = _get(request, export_id)
    handle = exports.do_open_export_download(archive, actor=request.user)
    return FileResponse(
        handle,
        as_attachment=True,
        filename=exports.download_filename(archive),
        content_type=exports.download_content_type(archive),
    )
