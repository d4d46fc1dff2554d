"""When a backup schedule is due: daily, weekly on a weekday, or monthly on a day of the month, at an hour in UTC.

Times are UTC throughout (UTC has no daylight saving time, so every day has the same 24 hours). A monthly schedule
on the 29th, 30th or 31st runs on the last day of a shorter month. Pure functions of the schedule's fields.
"""

import calendar
from datetime import UTC, datetime, timedelta

DAILY, WEEKLY, MONTHLY = "daily", "weekly", "monthly"
FREQUENCIES = (DAILY, WEEKLY, MONTHLY)
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def next_run_after(schedule, after):
    """The first time strictly after ``after`` at which ``schedule`` is due."""
    after = after.astimezone(UTC)
    if schedule.frequency == DAILY:
        candidate = _at_hour(after, schedule.hour_utc)
        return candidate if candidate > after else candidate + timedelta(days=1)
    if schedule.frequency == WEEKLY:
        days_ahead = (schedule.weekday - after.weekday()) % 7
        candidate = _at_hour(after, schedule.hour_utc) + timedelta(days=days_ahead)
        return candidate if candidate > after else candidate + timedelta(days=7)
    if schedule.frequency == MONTHLY:
        year, month = after.year, after.month
        while True:
            candidate = _monthly(year, month, schedule.day_of_month, schedule.hour_utc)
            if candidate > after:
                return candidate
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    raise ValueError(f"unknown frequency {schedule.frequency!r}")


def latest_due(schedule, due_at, now):
    """The most recent time at or before ``now`` that the schedule was due, starting from ``due_at`` (its planned
    next run, at or before ``now``): after a downtime that missed several periods, the one run made is for the
    latest of them."""
    latest = due_at
    while True:
        following = next_run_after(schedule, latest)
        if following > now:
            return latest
        latest = following


def describe(schedule):
    """The schedule as a sentence: "Every Monday at 02:00 UTC"."""
    hour = f"{schedule.hour_utc:02d}:00 UTC"
    if schedule.frequency == DAILY:
        return f"Every day at {hour}"
    if schedule.frequency == WEEKLY:
        return f"Every {WEEKDAYS[schedule.weekday]} at {hour}"
    day = schedule.day_of_month
    suffix = "th" if 11 <= day <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    shorter = " (the last day of shorter months)" if day > 28 else ""
    return f"Every month on the {day}{suffix}{shorter} at {hour}"


def _at_hour(moment, hour):
    return moment.replace(hour=hour, minute=0, second=0, microsecond=0)


def _monthly(year, month, day_of_month, hour):
    day = min(day_of_month, calendar.monthrange(year, month)[1])
    return datetime(year, month, day, hour, tzinfo=UTC)
