"""GET /healthz (the process answers) and GET /readyz (it can serve: database, migrations, storage, queue).

Both need no login and stay cheap: /readyz runs one trivial query, one indexed aggregate over the job queue, and
writes and deletes one tiny file; the migration check is remembered once it has passed."""

import logging
import time
import uuid

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger("keel.observability")
_migrations_applied = False


@never_cache
@require_GET
def healthz(request):
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request):
    checks = {"database": _check(_database)}
    if checks["database"]["ok"]:
        checks["migrations"] = _check(_migrations)
        checks["queue"] = _check(_queue)
    else:
        checks["migrations"] = checks["queue"] = {"ok": False, "error": "the database is not reachable"}
    checks["storage"] = _check(_storage)
    ready = all(check["ok"] for check in checks.values())
    if not ready:
        logger.warning("not ready: %s", {name: c.get("error") for name, c in checks.items() if not c["ok"]})
    return JsonResponse({"status": "ready" if ready else "unready", "checks": checks}, status=200 if ready else 503)


def _check(probe):
    started = time.monotonic()
    try:
        result = probe() or {}
    except Exception as exc:  # any failure is the answer, not an error of the endpoint
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    result.setdefault("ok", True)
    result["seconds"] = round(time.monotonic() - started, 4)
    return result


def _database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _migrations():
    global _migrations_applied
    if not _migrations_applied:
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
        if pending:
            return {"ok": False, "error": f"{len(pending)} migration(s) not applied; run `keel migrate`"}
        _migrations_applied = True
    return None


def _storage():
    name = default_storage.save(f"readyz/{uuid.uuid4().hex}", ContentFile(b"ok"))
    default_storage.delete(name)


def _queue():
    from keel.observability.metrics import queued_jobs

    depth, oldest_age = queued_jobs(timezone.now())
    result = {"queued_jobs": depth, "oldest_queued_job_age_seconds": oldest_age}
    limit = settings.KEEL_READY_MAX_QUEUE_AGE_SECONDS
    if limit and oldest_age is not None and oldest_age > limit:
        result.update(ok=False, error=f"the oldest queued job has waited {oldest_age:.0f} s (limit {limit:g} s)")
    return result
