"""/healthz and /readyz: unauthenticated, cheap, and /readyz says 503 when Keel cannot serve."""

import json
import os
import subprocess
import sys
from datetime import timedelta

from django.conf import settings as django_settings
from django.utils import timezone

from keel.jobs.models import DataJob
from keel.mail.tests.servers import free_port
from keel.observability import health


def test_healthz_answers_without_login_or_database(client, db, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readyz_reports_every_check(client, company):
    DataJob.objects.create(
        company=company, kind="export", enqueued_at=timezone.now(), created_at=timezone.now() - timedelta(seconds=90)
    )
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"database", "migrations", "storage", "queue"}
    assert all(check["ok"] for check in body["checks"].values())
    assert body["checks"]["queue"]["queued_jobs"] == 1
    assert 89 < body["checks"]["queue"]["oldest_queued_job_age_seconds"] < 120


def test_readyz_is_unready_when_the_oldest_job_waited_too_long(client, company, settings):
    settings.KEEL_READY_MAX_QUEUE_AGE_SECONDS = 60
    DataJob.objects.create(company=company, kind="export", created_at=timezone.now() - timedelta(seconds=90))
    response = client.get("/readyz")
    assert response.status_code == 503
    assert "the oldest queued job has waited" in response.json()["checks"]["queue"]["error"]


def test_readyz_is_unready_when_storage_cannot_be_written(client, db, settings, tmp_path):
    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_text("stored files cannot go under a file, whoever runs the test (root included)")
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(not_a_folder / "files")},
        },
    }
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["storage"]["ok"] is False


def test_readyz_is_unready_when_migrations_are_missing(client, db, monkeypatch):
    monkeypatch.setattr(health, "_migrations_applied", False)
    monkeypatch.setattr(
        "django.db.migrations.executor.MigrationExecutor.migration_plan", lambda self, targets: [("m", False)]
    )
    response = client.get("/readyz")
    assert response.status_code == 503
    assert "run `keel migrate`" in response.json()["checks"]["migrations"]["error"]


def test_readyz_is_unready_when_the_database_is_gone():
    """A Keel whose DATABASE_URL points at a port where no database listens: /readyz answers 503 at once."""
    script = (
        "import json, django; django.setup();"
        "from django.test import Client;"
        "r = Client().get('/readyz');"
        "print(json.dumps({'status': r.status_code, 'body': r.json()}))"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "keel.settings",
        "DATABASE_URL": f"postgres://keel@127.0.0.1:{free_port()}/keel",
        "KEEL_FILES_DIR": str(django_settings.STORAGES["default"]["OPTIONS"]["location"]),
    }
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["status"] == 503 and answer["body"]["status"] == "unready"
    checks = answer["body"]["checks"]
    assert checks["database"]["ok"] is False and "OperationalError" in checks["database"]["error"]
    assert checks["storage"]["ok"] is True
