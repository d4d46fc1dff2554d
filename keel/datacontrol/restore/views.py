"""Settings → Data Management → Restore from an export: check an archive, see what it holds, start, watch."""

import re
import uuid

from django.contrib import messages
from django.core.files import File
from django.core.files.storage import default_storage
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from keel.accounts.access import company_page
from keel.datacontrol.restore import actions as restores
from keel.datacontrol.restore.encryption import plain_archive
from keel.errors import InvalidInput, KeelError
from keel.jobs.models import DataJob
from keel.storage import company_folder

PENDING = re.compile(r"^[0-9a-f]{32}$")


def _pending_name(company, token):
    """Where a checked, not yet started upload waits: inside the company's own folder, named by a random token."""
    if not PENDING.match(token or ""):
        raise InvalidInput("Choose the archive again: the checked upload is no longer known.", field="file")
    return company_folder(company.pk, "restores", "pending", f"{token}.zip")


def _page(request, **extra):
    company = request.company
    context = {
        "job": DataJob.objects.filter(company=company, kind=DataJob.Kind.RESTORE).order_by("-id").first(),
        "holdings": restores.holdings(company),
        **extra,
    }
    return render(request, "datacontrol/restore/restore.html", context)


@company_page(permission=restores.RESTORE_PERMISSION, admin_only=True)
def restore(request):
    return _page(request)


@require_POST
@company_page(permission=restores.RESTORE_PERMISSION, admin_only=True)
def check_archive(request):
    upload = request.FILES.get("file")
    if upload is None:
        messages.error(request, "Choose the .zip file of a Keel export first.")
        return redirect("restore")
    secrets = {"passphrase": request.POST.get("passphrase") or None, "identity": request.POST.get("identity") or None}
    try:
        plain = plain_archive(upload, **secrets)  # a checked upload waits decrypted: the secret is not kept
        preview = restores.do_preview_restore(request.company, plain, actor=request.user)
    except KeelError as exc:
        messages.error(request, exc.message)
        return redirect("restore")
    token = uuid.uuid4().hex
    plain.seek(0)
    default_storage.save(_pending_name(request.company, token), File(plain, name=f"{token}.zip"))
    return _page(request, preview=preview, token=token, filename=upload.name)


@require_POST
@company_page(permission=restores.RESTORE_PERMISSION, admin_only=True)
def start_restore(request):
    try:
        name = _pending_name(request.company, request.POST.get("token"))
        with default_storage.open(name, "rb") as upload:
            restores.do_start_restore(
                request.company, upload, actor=request.user, invite_users=request.POST.get("invite_users") == "on"
            )
        default_storage.delete(name)
    except FileNotFoundError:
        messages.error(request, "Choose the archive again: the checked upload is no longer stored.")
    except KeelError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "The restore has started. You can leave this page; we will tell you when it ends.")
    return redirect("restore")
