"""Which function runs each kind of job. Apps register their handler in their AppConfig.ready()."""

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class JobHandler:
    run: Callable  # run(job, progress); must be safe to run again from the start after a crash at any point
    on_failed: Callable | None = None  # on_failed(job) after the job ended failed for good


HANDLERS: dict[str, JobHandler] = {}


def register(kind, run, on_failed=None):
    HANDLERS[kind] = JobHandler(run=run, on_failed=on_failed)
