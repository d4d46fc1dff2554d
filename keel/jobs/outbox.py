"""Completion side effects exactly once: a transactional outbox for jobs (docs/jobs.md, "Completion side effects").

A job's completion side effects (its audit event, the requester's notice and e-mail, the failed/cancelled hook)
are written as ``JobOutboxEntry`` rows in the same transaction as the job's final state, so a job that ended has
them recorded, and one that did not has none. ``deliver`` then performs each entry in one transaction that also
deletes it: an audit event (a row) commits together with the entry's removal, so it is written exactly once; an
e-mail, which no transaction can take back, is sent at least once (again if the process dies before the commit).
The runner delivers right after the final state commits; the reaper delivers whatever a dead worker left.

A handler declares its completion effects with ``on_completion(job, audit(...), notice(...))``; the runner stages
them with the final state. Code that ends a job itself (the company deletion, whose job row disappears) calls
``stage`` inside its final transaction.
"""

import logging
import os
import signal
from datetime import timedelta

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.module_loading import import_string

from keel.jobs.models import DataJob, JobOutboxEntry

logger = logging.getLogger("keel.jobs")

# An entry whose delivery failed (a mail server that refuses) is tried again after a pause that grows with each
# failure up to this cap, and never given up: a company deletion's confirmation must go out in the end.
MAX_RETRY_PAUSE_SECONDS = 300
# Tests only: the worker SIGKILLs itself at the named point ("before_final_state", "after_final_state",
# "after_audit", "after_notify", ...) to prove that every kill point ends with the same effects.
KILL_POINT_VARIABLE = "KEEL_TEST_KILL_AT"


def kill_point(name):
    if os.environ.get(KILL_POINT_VARIABLE) == name:
        logger.warning("killing this process at %s (%s)", name, KILL_POINT_VARIABLE)
        os.kill(os.getpid(), signal.SIGKILL)


# --- effects ------------------------------------------------------------------------------------------------------


def audit(company_id, actor, action, target=None, **metadata):
    """An audit event, as ``keel.audit.actions.record`` writes it."""
    return {
        "effect": "audit",
        "company_id": getattr(company_id, "pk", company_id),
        "actor_id": getattr(actor, "pk", None),
        "actor_label": getattr(actor, "email", "") or (actor if isinstance(actor, str) else ""),
        "action": action,
        "target_type": target._meta.model_name if target is not None else "",
        "target_id": str(target.pk) if target is not None else "",
        "metadata": metadata,
    }


def notice(user, subject, message, link=""):
    """An in-app notice and e-mail to ``user`` (``keel.accounts.notify.notify``); nothing when there is no user."""
    user_id = getattr(user, "pk", None)
    return {"effect": "notify", "user_id": user_id, "subject": subject, "message": message, "link": link}


def call(function, **kwargs):
    """Any other side effect: ``function`` (a dotted path) called with JSON ``kwargs``; it must be safe to repeat."""
    return {"effect": "call", "function": function, "kwargs": kwargs}


def hook(name):
    """The job kind's ``on_failed`` or ``on_cancelled`` hook, called with the job once it has ended."""
    return {"effect": "hook", "hook": name}


def on_completion(job, *effects):
    """Declare, from a handler, side effects that the runner records with the job's final state."""
    job.__dict__.setdefault("_completion_effects", []).extend(effects)


def completion_effects(job):
    return list(job.__dict__.get("_completion_effects", []))


# --- staging and delivery -------------------------------------------------------------------------------------------


def stage(job, effects, company_id=...):
    """Record ``effects`` of ``job``; call inside the transaction that writes the job's final state."""
    company_id = job.company_id if company_id is ... else company_id
    JobOutboxEntry.objects.bulk_create(
        JobOutboxEntry(job_id=job.pk, job_kind=job.kind, company_id=company_id, effect=e["effect"], payload=e)
        for e in effects
        if e
    )


def deliver(job_id=None):
    """Perform the pending entries (of one job, or all), oldest first. Safe to run anywhere, any number of times."""
    due = Q(retry_at__isnull=True) | Q(retry_at__lte=timezone.now())
    pending = JobOutboxEntry.objects.filter(due).order_by("id")
    if job_id is not None:
        pending = pending.filter(job_id=job_id)
    delivered = 0
    for entry_id in list(pending.values_list("id", flat=True)):
        delivered += deliver_entry(entry_id)
    return delivered


def deliver_entry(entry_id):
    """One entry: removed and performed in one transaction, so its database effects happen exactly once."""
    try:
        with transaction.atomic():
            entry = JobOutboxEntry.objects.filter(pk=entry_id).first()
            # The delete is the claim: of two deliverers, the second deletes nothing (it waited for the first).
            if entry is None or not JobOutboxEntry.objects.filter(pk=entry_id).delete()[0]:
                return 0
            perform(entry)
    except Exception as exc:
        logger.exception("delivering %s failed", entry_id)
        attempts = (JobOutboxEntry.objects.filter(pk=entry_id).values_list("attempts", flat=True).first() or 0) + 1
        pause = min(5 * 2 ** (attempts - 1), MAX_RETRY_PAUSE_SECONDS)
        JobOutboxEntry.objects.filter(pk=entry_id).update(
            attempts=F("attempts") + 1, retry_at=timezone.now() + timedelta(seconds=pause), last_error=str(exc)[:500]
        )
        return 0
    kill_point(f"after_{entry.effect}")
    return 1


def perform_now(job, effect):
    """Perform an effect at once, for code already running inside a delivery (a hook): its transaction is the one
    that removes the hook's entry, so the effect commits, or not, with it."""
    entry = JobOutboxEntry(job_id=job.pk, job_kind=job.kind, company_id=job.company_id, payload=effect)
    entry.effect = effect["effect"]
    perform(entry)


def perform(entry):
    payload = entry.payload
    if entry.effect == "audit":
        from keel.audit.models import AuditEvent

        fields = ("company_id", "actor_id", "actor_label", "action", "target_type", "target_id", "metadata")
        AuditEvent.objects.create(**{name: payload[name] for name in fields})
    elif entry.effect == "notify":
        from keel.accounts.models import User
        from keel.accounts.notify import notify

        user = User.objects.filter(pk=payload["user_id"]).first() if payload["user_id"] else None
        notify(user, payload["subject"], payload["message"], payload["link"])
    elif entry.effect == "call":
        import_string(payload["function"])(**payload["kwargs"])
    elif entry.effect == "hook":
        from keel.jobs.registry import HANDLERS

        handler = HANDLERS.get(entry.job_kind)
        function = getattr(handler, payload["hook"], None) if handler else None
        job = DataJob.objects.filter(pk=entry.job_id).first()
        if function is not None and job is not None:
            function(job)
    else:
        raise ValueError(f"unknown outbox effect {entry.effect!r}")
