"""Which function runs each kind of job. Apps register their handler in their AppConfig.ready()."""

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class JobHandler:
    run: Callable  # run(job, progress); must be safe to run again from the start after a crash at any point
    on_failed: Callable | None = None  # on_failed(job) after the job ended failed for good


HANDLERS: dict[str, JobHandler] = {}


def register(kind, run, on_failed=None):
    HANDLERS[kind] = JobHandler(run=run, on_failed=on_failed)


# Housekeeping the worker runs every few seconds beside the reaper (e.g. deleting expired export archives).
PERIODIC: list[Callable] = []


def register_periodic(fn):
    PERIODIC.append(fn)
    return fn
