"""Prometheus metrics at GET /metrics, behind KEEL_METRICS_TOKEN (docs/operations.md, "Monitoring").

Requests are counted in each process as they are answered; job and queue figures are read from the database at
scrape time (the database is the queue, so every web process sees the same numbers)."""

import hmac
import os

from django.conf import settings
from django.db.models import Count, DurationField, ExpressionWrapper, F, Min, Q, Sum
from django.http import Http404, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily, SummaryMetricFamily

REQUESTS = Counter("keel_http_requests", "HTTP requests answered, by status code", ["status"])


class MetricsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        REQUESTS.labels(status=str(response.status_code)).inc()
        return response


def queued_jobs(now):
    """(number of queued jobs, age in seconds of the oldest one or None)."""
    from keel.jobs.models import DataJob

    queued = DataJob.objects.filter(state=DataJob.State.QUEUED).aggregate(n=Count("id"), oldest=Min("created_at"))
    oldest = queued["oldest"]
    return queued["n"], (round((now - oldest).total_seconds(), 3) if oldest else None)


class DatabaseCollector:
    """Job counts and durations by kind and state, queue depth and age, e-mails by state."""

    def collect(self):
        from django_tasks_db.models import DBTaskResult

        from keel.jobs.models import DataJob
        from keel.mail.models import OutgoingEmail

        now = timezone.now()
        jobs = GaugeMetricFamily("keel_jobs", "Jobs by kind and state", labels=["kind", "state"])
        for row in DataJob.objects.values("kind", "state").annotate(n=Count("id")).order_by("kind", "state"):
            jobs.add_metric([row["kind"], row["state"]], row["n"])
        yield jobs

        run_time = ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())
        durations = SummaryMetricFamily(
            "keel_job_duration_seconds", "Run time of finished jobs, by kind and state", labels=["kind", "state"]
        )
        finished = DataJob.objects.filter(started_at__isnull=False, finished_at__isnull=False)
        for row in finished.values("kind", "state").annotate(n=Count("id"), total=Sum(run_time)).order_by("kind"):
            durations.add_metric([row["kind"], row["state"]], row["n"], row["total"].total_seconds())
        yield durations

        depth, oldest_age = queued_jobs(now)
        yield GaugeMetricFamily("keel_queue_depth", "Jobs waiting for a worker", value=depth)
        yield GaugeMetricFamily(
            "keel_oldest_queued_job_age_seconds", "How long the oldest queued job has waited", value=oldest_age or 0
        )
        due = Q(run_after__isnull=True) | Q(run_after__lte=now)
        tasks = DBTaskResult.objects.filter(due, status="READY").count()
        yield GaugeMetricFamily("keel_task_queue_depth", "Tasks (jobs, campaigns, e-mails) due to run", value=tasks)

        emails = GaugeMetricFamily("keel_emails", "E-mails in the outbox by state", labels=["state"])
        for row in OutgoingEmail.objects.values("state").annotate(n=Count("id")).order_by("state"):
            emails.add_metric([row["state"]], row["n"])
        yield emails


def _registry():
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Several web processes: each writes its counters to that folder, and the scrape adds them up.
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(REQUESTS)
    registry.register(DatabaseCollector())
    return registry


@never_cache
@require_GET
def metrics(request):
    token = settings.KEEL_METRICS_TOKEN
    if not token:
        raise Http404("Metrics are off: set KEEL_METRICS_TOKEN to turn them on.")
    offered = request.headers.get("Authorization", "")
    if not hmac.compare_digest(offered.encode(), f"Bearer {token}".encode()):
        response = HttpResponse("A bearer token (KEEL_METRICS_TOKEN) is needed.\n", status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(_registry()), content_type=CONTENT_TYPE_LATEST)
