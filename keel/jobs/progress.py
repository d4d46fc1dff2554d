import logging
import threading

from django.conf import settings
from django.db import connection
from django.utils import timezone

logger = logging.getLogger("keel.jobs")


class JobCancelled(Exception):
    """Raised at a batch boundary once the user asked to cancel."""


class JobFailed(Exception):
    """A permanent failure with a sentence for the user; the job is not retried."""


class LeaseLost(Exception):
    """Another runner owns this job now (ours was presumed dead): stop without touching the job row."""


class Progress:
    """What a handler reports while it works: total, done, current step.

    A heartbeat thread writes these to the job row every few seconds through its own database connection, so a
    handler inside a long read transaction (export) still shows progress, and writes nothing on its own
    connection. Handlers whose batches are write transactions may also call ``save()`` to store progress inside
    the batch transaction itself.
    """

    def __init__(self, job):
        self.job = job
        self.attempt = job.attempts
        self.total = job.progress_total
        self.done = job.progress_done
        self.step_text = job.step
        self._cancel_seen = False
        self._lease_lost = False
        self._stop = threading.Event()
        self._thread = None

    # --- what handlers call -------------------------------------------------------------------------------
    def set_total(self, total):
        self.total = max(int(total), 0)

    def advance(self, n=1):
        self.done += n

    def set_done(self, done):
        self.done = max(self.done, int(done))  # the bar never moves backwards, even across a resume

    def step(self, text):
        self.step_text = text[:200]

    def checkpoint(self):
        """Call at every batch boundary: raises if the job was cancelled or taken over."""
        if self._lease_lost:
            raise LeaseLost()
        if self._cancel_seen:
            raise JobCancelled()

    def save(self):
        """Store progress and heartbeat now, on the caller's connection (inside its transaction, if any)."""
        self._write()

    # --- the heartbeat ----------------------------------------------------------------------------------
    def _owned(self):
        from keel.jobs.models import DataJob

        return DataJob.objects.filter(pk=self.job.pk, state=DataJob.State.RUNNING, attempts=self.attempt)

    def _write(self):
        updated = self._owned().update(
            heartbeat_at=timezone.now(),
            progress_done=self.done,
            progress_total=self.total,
            step=self.step_text,
        )
        if not updated:
            self._lease_lost = True
        return updated

    def _beat(self):
        from keel.jobs.models import DataJob

        try:
            while not self._stop.wait(settings.KEEL_JOB_HEARTBEAT_SECONDS):
                try:
                    if self._write():
                        self._cancel_seen = DataJob.objects.filter(pk=self.job.pk, cancel_requested=True).exists()
                except Exception:  # a busy database must not kill the heartbeat; the next beat tries again
                    logger.warning("heartbeat of job %s failed", self.job.pk, exc_info=True)
        finally:
            connection.close()

    def start(self):
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-job-{self.job.pk}", daemon=True)
        self._thread.start()

    def stop(self):
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=30)
