"""Which function runs each kind of job. Apps register their handler in their AppConfig.ready()."""

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class JobHandler:
    run: Callable  # run(job, progress); must be safe to run again from the start after a crash at any point
    on_failed: Callable | None = None  # on_failed(job) after the job ended failed for good
    on_cancelled: Callable | None = None  # on_cancelled(job) when a queued job is cancelled before it ran
    cancellable: bool = False  # may a user cancel it (POST /api/v1/jobs/{id}/cancel)?


HANDLERS: dict[str, JobHandler] = {}


def register(kind, run, on_failed=None, on_cancelled=None, cancellable=False):
    HANDLERS[kind] = JobHandler(run=run, on_failed=on_failed, on_cancelled=on_cancelled, cancellable=cancellable)


def is_cancellable(kind):
    handler = HANDLERS.get(kind)
    return bool(handler and handler.cancellable)


# Housekeeping the worker runs every few seconds beside the reaper (e.g. deleting expired export archives).
# Each function must be cheap when there is nothing to do, and safe to run in several workers at once.
PERIODIC: list[Callable] = []


def register_periodic(fn):
    if fn not in PERIODIC:
        PERIODIC.append(fn)
    return fn
