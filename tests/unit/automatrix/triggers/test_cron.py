"""Cron schedules: time zones, start and end dates, and the misfire plan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from auterity.automatrix.triggers.cron import Schedule, plan, schedule_errors

GRACE = timedelta(seconds=60)


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def test_times_are_read_in_the_time_zone_and_answered_in_utc() -> None:
    daily = Schedule("0 9 * * *", "Europe/Berlin")
    # 09:00 in Berlin is 08:00 UTC in winter and 07:00 UTC in summer.
    assert daily.next_after(at(2026, 1, 10, 12)) == at(2026, 1, 11, 8)
    assert daily.next_after(at(2026, 7, 10, 12)) == at(2026, 7, 11, 7)


def test_daylight_saving_gap_still_fires_that_day() -> None:
    # 02:30 does not exist in New York on 2026-03-08; the day still gets one firing.
    nightly = Schedule("30 2 * * *", "America/New_York")
    fired = nightly.next_after(at(2026, 3, 7, 12))
    assert fired is not None and fired.date() == datetime(2026, 3, 8).date()
    assert nightly.next_after(fired) == at(2026, 3, 9, 6, 30)


def test_start_and_end_dates_bound_the_schedule() -> None:
    hourly = Schedule("0 * * * *", "UTC", starts_at=at(2026, 2, 1, 5), ends_at=at(2026, 2, 1, 7))
    assert hourly.next_after(at(2026, 1, 1)) == at(2026, 2, 1, 5)  # a time at the start counts
    assert hourly.next_after(at(2026, 2, 1, 6)) == at(2026, 2, 1, 7)
    assert hourly.next_after(at(2026, 2, 1, 7)) is None


def test_on_time_firings_all_fire() -> None:
    every_minute = Schedule("* * * * *", "UTC")
    result = plan(every_minute, at(2026, 1, 1, 0, 0), at(2026, 1, 1, 0, 0, 30), GRACE, "skip")
    assert result.fire == [at(2026, 1, 1, 0, 0)] and result.skipped == 0
    assert result.next_fire_at == at(2026, 1, 1, 0, 1)


@pytest.mark.parametrize(("policy", "fired"), [("skip", []), ("run_once", [at(2026, 1, 1, 2, 58)])])
def test_missed_times_are_skipped_or_fired_once(policy: str, fired: list[datetime]) -> None:
    every_minute = Schedule("* * * * *", "UTC")
    # Down from 00:00 to 03:00: 179 times are more than a minute late; 02:59 and 03:00 are not.
    now = at(2026, 1, 1, 3, 0)
    result = plan(every_minute, at(2026, 1, 1, 0, 0), now, GRACE, policy)
    assert result.fire == [*fired, at(2026, 1, 1, 2, 59), at(2026, 1, 1, 3, 0)]
    assert result.skipped == 179 - len(fired)
    assert result.next_fire_at == at(2026, 1, 1, 3, 1)


def test_a_missed_time_past_the_end_date_ends_the_trigger() -> None:
    ended = Schedule("0 * * * *", "UTC", ends_at=at(2026, 1, 1, 5))
    result = plan(ended, at(2026, 1, 1, 4), at(2026, 1, 2), GRACE, "run_once")
    assert result.fire == [at(2026, 1, 1, 5)] and result.next_fire_at is None  # the last


def test_bad_expressions_and_zones_name_their_field() -> None:
    assert schedule_errors("0 9 * * *", "Europe/Berlin") == []
    assert schedule_errors("@daily", "UTC") == []
    assert schedule_errors("*/5 * * * * *", "UTC") == []  # six fields: seconds last
    [fields] = schedule_errors("0 9 * *", "UTC")
    assert fields.pointer == "/cron" and "4 fields" in fields.message
    [minute] = schedule_errors("61 * * * *", "UTC")
    assert minute.pointer == "/cron" and "61" in minute.message
    [never] = schedule_errors("0 0 30 2 *", "UTC")
    assert never.pointer == "/cron" and "matches no date" in never.message
    [zone] = schedule_errors("0 9 * * *", "Mars/Olympus")
    assert zone.pointer == "/timezone"
    assert [e.pointer for e in schedule_errors("x", "../etc/passwd")] == ["/cron", "/timezone"]
