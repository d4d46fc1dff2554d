import logging
import threading

from django.conf import settings
from django.db import connection
from django_tasks_db.management.commands import db_worker

from keel.jobs.progress import request_worker_stop
from keel.jobs.registry import PERIODIC
from keel.jobs.tasks import prepare_worker, reap_stale_jobs

logger = logging.getLogger("keel.jobs")


def reap_forever(stop, interval):
    while True:
        try:
            reaped = reap_stale_jobs()
            if reaped:
                logger.info("reaper requeued jobs %s", reaped)
            for housekeeping in PERIODIC:
                try:
                    housekeeping()
                except Exception:
                    logger.exception("periodic housekeeping %s failed", getattr(housekeeping, "__name__", "?"))
        except Exception:
            logger.exception("reaper pass failed")
        finally:
            connection.close()
        if stop.wait(interval):
            return


class KeelWorker(db_worker.Worker):
    """db_worker's loop, plus: on the first SIGTERM/SIGINT the running job stops at its next batch boundary and
    goes straight back to the queue (Progress.checkpoint raises WorkerStopping), instead of the shutdown waiting
    for a long import to end or the job waiting a whole lease to be reaped."""

    def shutdown(self, signum, frame):
        if self.running:
            request_worker_stop()
        super().shutdown(signum, frame)


class Command(db_worker.Command):
    help = "Run background jobs (django-tasks-db's db_worker) and reap jobs whose worker died."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.set_defaults(interval=0.5)

    def handle(self, *args, **options):
        prepare_worker()  # so that no job's time includes loading the URLconf and the e-mail templates
        # The reaper lives in the worker, so the embedded default needs no cron and no extra process.
        interval = max(1.0, min(10.0, settings.KEEL_JOB_LEASE_SECONDS / 3))
        threading.Thread(target=reap_forever, args=(threading.Event(), interval), daemon=True).start()
        original = db_worker.Worker
        db_worker.Worker = KeelWorker  # handle() builds its Worker by this module-level name
        try:
            return super().handle(*args, **options)
        finally:
            db_worker.Worker = original
