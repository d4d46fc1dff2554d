import logging
import threading

from django.conf import settings
from django.db import connection
from django_tasks_db.management.commands.db_worker import Command as DbWorkerCommand

from keel.jobs.registry import PERIODIC
from keel.jobs.runner import reap_stale_jobs

logger = logging.getLogger("keel.jobs")


def reap_forever(stop, interval):
    while True:
        try:
            reaped = reap_stale_jobs()
            if reaped:
                logger.info("reaper requeued jobs %s", reaped)
            for housekeeping in PERIODIC:
                housekeeping()
        except Exception:
            logger.exception("reaper pass failed")
        finally:
            connection.close()
        if stop.wait(interval):
            return


class Command(DbWorkerCommand):
    help = "Run background jobs (django-tasks-db's db_worker) and reap jobs whose worker died."

    def handle(self, *args, **options):
        # The reaper lives in the worker, so the embedded default needs no cron and no extra process.
        interval = max(1.0, min(10.0, settings.KEEL_JOB_LEASE_SECONDS / 3))
        threading.Thread(target=reap_forever, args=(threading.Event(), interval), daemon=True).start()
        options.setdefault("interval", 0.5)
        return super().handle(*args, **options)
