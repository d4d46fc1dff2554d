"""Counting failed attempts (passwords, one-time codes) in the database and refusing more once there were too many.

The counts live in one table (``AttemptCount``, one row per scope and subject), so every web process on every
machine sees the same numbers, and every change is one compare-and-set ``UPDATE``: two requests at the same
moment can never both read "4 of 5" and both go on. An attempt is **reserved before the secret is checked**
(``reserve``); a check that succeeds may give the reservation back (``give_back``) or forget the subject
(``forget``). So twenty concurrent wrong passwords against a limit of five are five checks and fifteen refusals.

Two policies:

* ``FailureThrottle``: at most ``attempts`` per window; the first attempt opens a window of ``window`` seconds and
  every further attempt inside it is refused once the limit is reached, even a right one (otherwise guessing would
  simply go on). Used per client address for logins, and per user for re-authentication::

      LOGIN_THROTTLE = FailureThrottle("login-failures", "KEEL_LOGIN_ATTEMPTS", "KEEL_LOGIN_WINDOW_SECONDS")
      LOGIN_THROTTLE.reserve("ip:192.0.2.1")   # RateLimited (429) "... Try again in 5 minutes." when over
      LOGIN_THROTTLE.give_back("ip:192.0.2.1")  # the password was right

* ``BackoffThrottle``: ``attempts`` free attempts, then one attempt per exponentially growing wait (the window,
  twice the window, four times ... at most ``KEEL_LOGIN_BACKOFF_MAX_SECONDS``), forgotten after a success or a day
  without attempts. Used per account *and* client address, so that nobody can lock a user out from elsewhere.

Subjects are stored as keyed digests (HMAC with the secret key): the table holds no e-mail or client address.
The limits are read from settings at each call (names of settings, so tests and operators can change them).
"""

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac

from keel.clientaddr import client_address as trusted_client_address
from keel.errors import RateLimited

# A day without attempts and a back-off subject starts again from its free attempts.
BACKOFF_MEMORY = timedelta(days=1)
_NEVER = datetime(2000, 1, 1, tzinfo=UTC)
# Compare-and-set rounds before giving up; each round one of the competing requests wins, so this is only
# reached under pathological contention, and then the attempt is refused rather than let through.
MAX_ROUNDS = 200


def minutes_text(seconds):
    """A wait as a person reads it, rounded up to whole minutes: "1 minute", "5 minutes"."""
    minutes = max(1, math.ceil(seconds / 60))
    return f"{minutes} minute" if minutes == 1 else f"{minutes} minutes"


def client_address(request):
    """The client's address for per-address limits: ``REMOTE_ADDR``, or behind a trusted reverse proxy
    (``KEEL_TRUSTED_PROXIES``) the address that proxy saw. A forwarded-for header from anyone else is ignored:
    the client chooses it, and could dodge the throttle or aim it at someone else (docs/security.md, Proxies)."""
    return trusted_client_address(request) or "unknown"


@dataclass
class _State:
    count: int
    window_ends_at: datetime
    blocked_until: datetime


class _Throttle:
    def __init__(self, name, attempts_setting, window_setting, defaults=(None, None)):
        self.name = name
        self.attempts_setting = attempts_setting
        self.window_setting = window_setting
        self.defaults = defaults  # (attempts, window seconds) for settings that need not be in settings.py

    @property
    def attempts(self):
        return getattr(settings, self.attempts_setting, self.defaults[0])

    @property
    def window(self):
        return timedelta(seconds=getattr(settings, self.window_setting, self.defaults[1]))

    def digest(self, subject):
        """The stored key of one subject: a keyed digest, so the table holds no address or e-mail."""
        return salted_hmac("keel.accounts.throttle", f"{self.name}:{subject}", algorithm="sha256").hexdigest()

    # --- the policy (subclasses) -------------------------------------------------------------------------------

    def admit(self, state, now):
        """The state after one more attempt, or the seconds to wait (a float) when the attempt is refused."""
        raise NotImplementedError

    # --- storage -----------------------------------------------------------------------------------------------

    def _rows(self, subject):
        from keel.accounts.models import AttemptCount

        return AttemptCount.objects.filter(scope=self.name, subject=self.digest(subject))

    def _read(self, subject):
        row = self._rows(subject).values("count", "window_ends_at", "blocked_until", "version").first()
        if row is None:
            return None, _State(0, _NEVER, _NEVER)
        return row["version"], _State(row["count"], row["window_ends_at"], row["blocked_until"])

    def _write(self, subject, version, state):
        """Store ``state`` if nobody changed the row since ``version`` was read. True when stored."""
        from keel.accounts.models import AttemptCount

        fields = {"count": state.count, "window_ends_at": state.window_ends_at, "blocked_until": state.blocked_until}
        if version is None:
            try:
                with transaction.atomic():
                    AttemptCount.objects.create(scope=self.name, subject=self.digest(subject), version=1, **fields)
                return True
            except IntegrityError:  # created by a concurrent request meanwhile: read it and try again
                return False
        return bool(self._rows(subject).filter(version=version).update(version=version + 1, **fields))

    def _change(self, subject, change):
        """Apply ``change(state, now)`` (a new state, or a wait in seconds) atomically; return its result."""
        for _ in range(MAX_ROUNDS):
            now = timezone.now()
            version, state = self._read(subject)
            outcome = change(state, now)
            if not isinstance(outcome, _State):
                return outcome
            if self._write(subject, version, outcome):
                return outcome
        return self.window.total_seconds()

    # --- the interface -----------------------------------------------------------------------------------------

    def reserve(self, *subjects, message="Too many failed attempts.", wait_field="retry_after_seconds", **extra):
        """Count one attempt for each of ``subjects`` before the secret is checked, or raise ``RateLimited``
        ("<message> Try again in N minutes.", with the wait in ``wait_field`` and ``extra``) and count nothing."""
        reserved = []
        for subject in subjects:
            outcome = self._change(subject, self.admit)
            if not isinstance(outcome, _State):
                self.give_back(*reserved)
                wait = max(outcome, 1)
                raise RateLimited(
                    f"{message} Try again in {minutes_text(wait)}.",
                    **{wait_field: math.ceil(wait), **extra},
                )
            reserved.append(subject)

    def give_back(self, *subjects):
        """Return one reserved attempt of each of ``subjects`` (the check it was reserved for succeeded)."""
        for subject in subjects:
            self._change(subject, lambda state, now: _State(max(state.count - 1, 0), *_times(state)))
            self._rows(subject).filter(count=0).delete()  # nothing counted: no row to keep

    def forget(self, *subjects):
        """Drop everything counted for ``subjects`` (after a success)."""
        for subject in subjects:
            self._rows(subject).delete()

    @staticmethod
    def discard_expired():
        """Delete the rows whose window and wait are over (they would count as nothing anyway)."""
        from keel.accounts.models import AttemptCount

        now = timezone.now()
        AttemptCount.objects.filter(window_ends_at__lt=now, blocked_until__lt=now).delete()

    def wait_seconds(self, *subjects):
        """Seconds until every one of ``subjects`` may try again; 0 when none of them is throttled."""
        now = timezone.now()
        waits = [self.admit(self._read(subject)[1], now) for subject in subjects]
        return max((w for w in waits if not isinstance(w, _State)), default=0)

    def ensure_allowed(self, *subjects, message="Too many failed attempts.", **extra):
        """Raise ``RateLimited`` while any of ``subjects`` is throttled, without counting an attempt."""
        wait = self.wait_seconds(*subjects)
        if wait:
            raise RateLimited(
                f"{message} Try again in {minutes_text(wait)}.", retry_after_seconds=math.ceil(wait), **extra
            )

    def count_failure(self, *subjects):
        """Count one failed attempt that was not reserved beforehand (a check with no secret to guess twice)."""
        for subject in subjects:
            self._change(subject, self._counted)

    def _counted(self, state, now):
        admitted = self.admit(state, now)
        if isinstance(admitted, _State):
            return admitted
        return _State(state.count + 1, *_times(state))  # already throttled: count it all the same


def _times(state):
    return state.window_ends_at, state.blocked_until


class FailureThrottle(_Throttle):
    """At most ``attempts`` attempts per subject in a window of ``window`` seconds."""

    def admit(self, state, now):
        if state.window_ends_at <= now:
            state = _State(0, now + self.window, _NEVER)
        if state.count >= self.attempts:
            return (state.window_ends_at - now).total_seconds()
        return _State(state.count + 1, state.window_ends_at, state.blocked_until)


class BackoffThrottle(_Throttle):
    """``attempts`` free attempts per subject, then one per wait that doubles from ``window`` seconds up to
    ``KEEL_LOGIN_BACKOFF_MAX_SECONDS``. A wait never grows without bound, so a subject is never locked for good."""

    def backoff(self, count):
        doublings = min(count - self.attempts, 30)
        seconds = min(self.window.total_seconds() * 2**doublings, settings.KEEL_LOGIN_BACKOFF_MAX_SECONDS)
        return timedelta(seconds=seconds)

    def admit(self, state, now):
        if state.window_ends_at <= now:  # no attempt for a day: start again
            state = _State(0, now, _NEVER)
        if state.blocked_until > now:
            return (state.blocked_until - now).total_seconds()
        count = state.count + 1
        # Reserving the attempt that reaches the limit already starts the wait, so that no concurrent attempt
        # slips in beside it; a success forgets the subject and so lifts the wait again.
        blocked_until = now + self.backoff(count) if count >= self.attempts else _NEVER
        return _State(count, now + BACKOFF_MEMORY, blocked_until)
