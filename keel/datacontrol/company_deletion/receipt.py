"""The deletion receipt (docs/company-deletion.md, "The deletion receipt"): its status link, the progress it
carries while the job runs, its text, and what the public status link shows.

The receipt is global and outlives the company; it holds ids, times and numbers only, never a name or an e-mail
address. The status link's token is stored hashed.
"""

import hashlib

from django.utils import timezone

from keel.datacontrol.deletion import DeletionProgress
from keel.datacontrol.models import DeletionReceipt
from keel.security import status_link_expired


def hash_status_token(token):
    return hashlib.sha256(token.encode()).hexdigest()


def receipt_for_token(token):
    if not token or len(token) > 100:
        return None
    receipt = DeletionReceipt.objects.filter(status_token_hash=hash_status_token(token)).first()
    return None if receipt is None or status_link_expired(receipt) else receipt


class ReceiptProgress(DeletionProgress):
    """The job's progress, mirrored on the receipt inside each batch's own transaction.

    The eraser calls ``advance``/``save``/``checkpoint`` inside every batch transaction; saving here writes the
    job row (through ``Progress.save``) and the receipt's tally in that same transaction, so the public status page
    and the receipt's counts always match what was really deleted, crash or not. The receipt keeps the progress
    because the job's own row disappears at the end.
    """

    def __init__(self, progress, receipt):
        super().__init__(progress, rows=receipt.rows_deleted, files=receipt.files_deleted)
        self.receipt = receipt

    def step(self, text):
        super().step(text)
        self.receipt.step = text[:200]

    def advance(self, n=1):
        super().advance(n)
        self.receipt.progress_done += n

    def save(self):
        super().save()
        self.receipt.files_deleted = self.files
        DeletionReceipt.objects.filter(pk=self.receipt.pk).update(
            rows_deleted=self.receipt.rows_deleted,
            files_deleted=self.receipt.files_deleted,
            progress_done=self.receipt.progress_done,
            step=self.receipt.step,
        )


def receipt_text(receipt):
    """The system confirmation as plain text: ids, times and counts only."""
    lines = [
        f"Receipt ID: {receipt.receipt_id}",
        f"Company ID: {receipt.company_id_deleted}",
        f"Requested at: {receipt.requested_at:%Y-%m-%d %H:%M:%S} UTC",
        f"Completed at: {receipt.completed_at:%Y-%m-%d %H:%M:%S} UTC" if receipt.completed_at else "Not completed",
        "Rows deleted:",
        *(f"  {entity.replace('_', ' ')}: {n}" for entity, n in sorted(receipt.rows_deleted.items())),
        f"Files deleted: {receipt.files_deleted}",
    ]
    return "\n".join(lines)


def status_payload(receipt):
    """What the public status link may show: state, progress, counts, completion time and receipt id, no more."""
    done, total = receipt.progress_done, receipt.progress_total
    if receipt.state == DeletionReceipt.State.SUCCEEDED:
        percent = 100
    else:
        percent = min(99, int(done * 100 / total)) if total else 0
    return {
        "state": receipt.state,
        "step": receipt.step,
        "progress": {"done": done, "total": total, "percent": percent},
        "seconds_left": seconds_left(receipt),
        "counts": {**receipt.rows_deleted, "files": receipt.files_deleted},
        "completed_at": receipt.completed_at,
        "receipt_id": str(receipt.receipt_id),
    }


def seconds_left(receipt):
    """An estimate of the time left, from the pace so far (rows and files per second since the request); None
    until there is a pace to go by, and once the deletion has ended."""
    done, total = receipt.progress_done, receipt.progress_total
    if receipt.state != DeletionReceipt.State.RUNNING or not done or not total:
        return None
    elapsed = (timezone.now() - receipt.requested_at).total_seconds()
    if elapsed <= 0:
        return None
    return max(1, round((total - done) * elapsed / done))
