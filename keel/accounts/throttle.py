"""Counting failed attempts (passwords, one-time codes) in the cache and refusing more once there were too many.

A ``FailureThrottle`` counts failures per subject (an e-mail address, a client address, a user, ...). The first
failure opens a window of ``window`` seconds; once a subject has ``attempts`` failures inside it, every attempt
for that subject is refused until the window ends, even a right one (otherwise guessing would simply go on)::

    LOGIN_THROTTLE = FailureThrottle("login-failures", "KEEL_LOGIN_ATTEMPTS", "KEEL_LOGIN_WINDOW_SECONDS")

    LOGIN_THROTTLE.ensure_allowed("email:<digest>", "ip:192.0.2.1")  # RateLimited (429) "... Try again in 5 minutes."
    LOGIN_THROTTLE.count_failure("email:<digest>", "ip:192.0.2.1")
    LOGIN_THROTTLE.forget("email:<digest>")  # after a success

The limits are read from settings at each call (names of settings, so tests and operators can change them).
"""

import math
import time

from django.conf import settings
from django.core.cache import cache

from keel.errors import RateLimited


def minutes_text(seconds):
    """A wait as a person reads it, rounded up to whole minutes: "1 minute", "5 minutes"."""
    minutes = max(1, math.ceil(seconds / 60))
    return f"{minutes} minute" if minutes == 1 else f"{minutes} minutes"


class FailureThrottle:
    def __init__(self, name, attempts_setting, window_setting):
        self.name = name
        self.attempts_setting = attempts_setting
        self.window_setting = window_setting

    def key(self, subject):
        """The cache key of one subject's count (never put a secret in a subject: hash it first)."""
        return f"keel:{self.name}:{subject}"

    def wait_seconds(self, *subjects):
        """Seconds until every one of ``subjects`` may try again; 0 when none of them is throttled."""
        now = time.time()
        limit = getattr(settings, self.attempts_setting)
        waits = [
            state["until"] - now
            for state in (cache.get(self.key(subject)) for subject in subjects)
            if state and state["count"] >= limit and state["until"] > now
        ]
        return max(waits, default=0)

    def ensure_allowed(self, *subjects, message="Too many failed attempts.", **extra):
        """Raise ``RateLimited`` ("<message> Try again in N minutes.", with ``retry_after_seconds`` and ``extra``
        in the error) while any of ``subjects`` is throttled."""
        wait = self.wait_seconds(*subjects)
        if wait:
            raise RateLimited(
                f"{message} Try again in {minutes_text(wait)}.", retry_after_seconds=math.ceil(wait), **extra
            )

    def count_failure(self, *subjects):
        """Count one failed attempt for each of ``subjects``."""
        now = time.time()
        for subject in subjects:
            key = self.key(subject)
            state = cache.get(key)
            if not state or state["until"] <= now:
                state = {"count": 0, "until": now + getattr(settings, self.window_setting)}
            state["count"] += 1
            cache.set(key, state, timeout=math.ceil(state["until"] - now) + 1)

    def forget(self, *subjects):
        """Drop the counts of ``subjects`` (after a success)."""
        cache.delete_many([self.key(subject) for subject in subjects])
