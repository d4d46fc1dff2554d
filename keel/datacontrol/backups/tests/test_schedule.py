"""When a schedule is due: each frequency across day, week, month and year ends, in UTC; one catch-up run."""

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from keel.datacontrol.backups.schedule import describe, latest_due, next_run_after


def schedule(frequency, hour=2, weekday=0, day_of_month=1):
    return SimpleNamespace(frequency=frequency, hour_utc=hour, weekday=weekday, day_of_month=day_of_month)


def at(*parts):
    return datetime(*parts, tzinfo=UTC)


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (at(2026, 3, 10, 1, 59), at(2026, 3, 10, 2)),  # later today
        (at(2026, 3, 10, 2, 0), at(2026, 3, 11, 2)),  # exactly at the hour: the next day's
        (at(2026, 12, 31, 23, 0), at(2027, 1, 1, 2)),  # across the year's end
        (at(2026, 3, 29, 1, 30), at(2026, 3, 29, 2)),  # Europe's DST night: UTC has no gap
    ],
)
def test_daily(after, expected):
    assert next_run_after(schedule("daily"), after) == expected


@pytest.mark.parametrize(
    ("weekday", "after", "expected"),
    [
        (0, at(2026, 12, 5, 12), at(2026, 12, 7, 2)),  # Saturday → Monday
        (5, at(2026, 12, 5, 1), at(2026, 12, 5, 2)),  # Saturday before the hour → today
        (5, at(2026, 12, 5, 3), at(2026, 12, 12, 2)),  # Saturday after the hour → a week later
        (3, at(2026, 12, 30, 0), at(2026, 12, 31, 2)),  # Thursday, across the year's end
    ],
)
def test_weekly(weekday, after, expected):
    assert next_run_after(schedule("weekly", weekday=weekday), after) == expected


@pytest.mark.parametrize(
    ("day", "after", "expected"),
    [
        (31, at(2026, 1, 31, 3), at(2026, 2, 28, 2)),  # February is shorter: its last day
        (31, at(2028, 1, 31, 3), at(2028, 2, 29, 2)),  # a leap year's February
        (31, at(2026, 4, 1, 0), at(2026, 4, 30, 2)),  # April has 30 days
        (31, at(2026, 4, 30, 2), at(2026, 5, 31, 2)),  # after April's run, May's 31st
        (15, at(2026, 12, 20, 0), at(2027, 1, 15, 2)),  # across the year's end
        (1, at(2026, 2, 1, 1), at(2026, 2, 1, 2)),  # today, before the hour
    ],
)
def test_monthly(day, after, expected):
    assert next_run_after(schedule("monthly", day_of_month=day), after) == expected


def test_after_downtime_the_one_catch_up_run_is_for_the_latest_missed_period():
    weekly = schedule("weekly", weekday=0)
    missed_first = at(2026, 11, 9, 2)  # three Mondays were missed while no worker ran
    now = at(2026, 11, 25, 10)
    assert latest_due(weekly, missed_first, now) == at(2026, 11, 23, 2)
    assert latest_due(weekly, at(2026, 11, 23, 2), now) == at(2026, 11, 23, 2)


def test_descriptions_read_as_sentences():
    assert describe(schedule("daily", hour=5)) == "Every day at 05:00 UTC"
    assert describe(schedule("weekly", weekday=6, hour=23)) == "Every Sunday at 23:00 UTC"
    assert describe(schedule("monthly", day_of_month=31)) == (
        "Every month on the 31st (the last day of shorter months) at 02:00 UTC"
    )
    assert describe(schedule("monthly", day_of_month=12)).startswith("Every month on the 12th ")
