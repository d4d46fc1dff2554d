"""keel.accounts.throttle: failures counted per subject in a window, refused past the limit, forgotten on success."""

import time

import pytest

from keel.accounts.throttle import FailureThrottle, minutes_text
from keel.errors import RateLimited

THROTTLE = FailureThrottle("test-failures", "KEEL_LOGIN_ATTEMPTS", "KEEL_LOGIN_WINDOW_SECONDS")


def test_minutes_text_rounds_up_to_whole_minutes():
    assert minutes_text(1) == "1 minute"
    assert minutes_text(60) == "1 minute"
    assert minutes_text(61) == "2 minutes"


def test_a_subject_is_refused_once_it_reached_the_limit_and_others_are_not(settings, db):
    settings.KEEL_LOGIN_ATTEMPTS = 2
    settings.KEEL_LOGIN_WINDOW_SECONDS = 300
    THROTTLE.count_failure("user:1")
    THROTTLE.ensure_allowed("user:1")  # one failure: still allowed
    THROTTLE.count_failure("user:1", "ip:a")
    with pytest.raises(RateLimited) as refused:
        THROTTLE.ensure_allowed("user:2", "user:1", message="Too many failed attempts to confirm.", field="code")
    assert refused.value.message == "Too many failed attempts to confirm. Try again in 5 minutes."
    assert refused.value.code == "rate_limited"
    assert 295 <= refused.value.extra["retry_after_seconds"] <= 300 and refused.value.extra["field"] == "code"
    THROTTLE.ensure_allowed("user:2", "ip:a")  # "ip:a" failed once only
    THROTTLE.forget("user:1")
    THROTTLE.ensure_allowed("user:1")
    assert THROTTLE.wait_seconds("user:1") == 0


def test_the_count_starts_again_after_the_window(settings, db):
    settings.KEEL_LOGIN_ATTEMPTS = 1
    settings.KEEL_LOGIN_WINDOW_SECONDS = 1
    THROTTLE.count_failure("user:3")
    assert 0 < THROTTLE.wait_seconds("user:3") <= 1
    time.sleep(1.1)
    THROTTLE.ensure_allowed("user:3")
