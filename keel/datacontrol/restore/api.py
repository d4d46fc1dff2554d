"""/api/v1/restores: check an export archive and restore it into the empty company (docs/restore.md, API)."""

from ninja import File, Form, Router, Schema, Status, UploadedFile

from keel.datacontrol.restore.actions import do_preview_restore, do_start_restore
from keel.errors import InvalidInput
from keel.jobs.api import JobEnvelope, job_out

router = Router(tags=["restores"])


class SourceOut(Schema):
    company: str
    created_at: str
    keel_version: str


class PreviewOut(Schema):
    source: SourceOut
    rows: dict[str, int]


def _required(file):
    if file is None:
        raise InvalidInput("Send the archive as the multipart field “file”.", field="file")
    return file


@router.post("/restores/preview", response=PreviewOut, summary="What an export archive holds, checked")
def preview_restore(
    request, file: File[UploadedFile] = None, passphrase: Form[str | None] = None, identity: Form[str | None] = None
):
    """Multipart ``file``: a Keel export archive (.zip, or .zip.age with ``passphrase`` or ``identity``). Answers
    what it holds without writing anything."""
    return do_preview_restore(
        request.company, _required(file), actor=request.user, passphrase=passphrase, identity=identity
    )


@router.post("/restores", response={202: JobEnvelope}, summary="Restore an export archive into this company")
def start_restore(
    request,
    file: File[UploadedFile] = None,
    invite_users: Form[bool] = False,
    passphrase: Form[str | None] = None,
    identity: Form[str | None] = None,
):
    """Multipart ``file`` (a Keel export archive; an age-encrypted one with ``passphrase`` or ``identity``, used for
    this request only) and optional ``invite_users`` (true|false). Answers 202 with the ``restore`` job; follow it at
    /api/v1/jobs/{id}."""
    job = do_start_restore(
        request.company,
        _required(file),
        actor=request.user,
        invite_users=invite_users,
        passphrase=passphrase,
        identity=identity,
    )
    return Status(202, {"job": job_out(job)})
