"""Request ids in logs and responses, JSON logs, and /metrics behind its token."""

import json
import logging

from django.test import Client

from keel.jobs.models import DataJob
from keel.observability.logs import JsonFormatter
from keel.observability.requestid import RequestIdFilter


def explode(*args, **kwargs):
    raise RuntimeError("boom: a bug for the test")


def test_a_request_id_is_generated_or_honoured_and_echoed(client, db):
    generated = client.get("/healthz")["X-Request-ID"]
    assert len(generated) == 32
    assert client.get("/healthz", HTTP_X_REQUEST_ID="lb-1234.abc")["X-Request-ID"] == "lb-1234.abc"
    # Something that does not look like an id (spaces, control characters, too long) is replaced.
    assert client.get("/healthz", HTTP_X_REQUEST_ID="evil\nline")["X-Request-ID"] != "evil\nline"
    assert len(client.get("/healthz", HTTP_X_REQUEST_ID="x" * 500)["X-Request-ID"]) == 32


def test_an_unhandled_exception_is_logged_with_its_traceback_and_the_request_id(admin, monkeypatch, caplog):
    monkeypatch.setattr("keel.integrations.views.render", explode)
    client = Client(raise_request_exception=False)
    client.force_login(admin)
    with caplog.at_level(logging.ERROR, logger="django.request"):
        response = client.get("/integrations/", HTTP_X_REQUEST_ID="req-500-test")
    assert response.status_code == 500 and response["X-Request-ID"] == "req-500-test"
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    handler = logging.getLogger("django").handlers[0]  # the console handler configured in settings.LOGGING
    assert handler.filter(record)
    written = handler.format(record)
    assert "[req-500-test]" in written and "Traceback" in written and "boom: a bug for the test" in written

    as_json = JsonFormatter()
    entry = json.loads(as_json.format(record))
    assert entry["request_id"] == "req-500-test" and entry["level"] == "ERROR"
    assert "boom: a bug for the test" in entry["exception"] and "Traceback" in entry["exception"]


def test_records_outside_a_request_have_a_placeholder_id():
    record = logging.LogRecord("keel.jobs", logging.INFO, __file__, 1, "job %s done", (7,), None)
    assert RequestIdFilter().filter(record) and record.request_id == "-"
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "job 7 done" and entry["logger"] == "keel.jobs" and "exception" not in entry


def test_metrics_are_off_without_a_token(client, db, settings):
    settings.KEEL_METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404


def test_metrics_need_the_token(client, company, settings):
    settings.KEEL_METRICS_TOKEN = "s3cret-metrics-token"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    client.get("/healthz")
    DataJob.objects.create(company=company, kind="export")
    finished = DataJob.objects.create(company=company, kind="import", state="succeeded")
    DataJob.objects.filter(pk=finished.pk).update(started_at="2026-01-01T10:00:00Z", finished_at="2026-01-01T10:00:30Z")

    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-metrics-token")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert 'keel_http_requests_total{status="200"}' in text
    assert 'keel_http_requests_total{status="401"}' in text
    assert 'keel_jobs{kind="export",state="queued"} 1.0' in text
    assert 'keel_job_duration_seconds_sum{kind="import",state="succeeded"} 30.0' in text
    assert 'keel_job_duration_seconds_count{kind="import",state="succeeded"} 1.0' in text
    assert "keel_queue_depth 1.0" in text and "keel_oldest_queued_job_age_seconds" in text
    assert "keel_task_queue_depth" in text
