"""The delivery retry schedule: exponential, jittered within one initial wait, capped."""

from __future__ import annotations

from datetime import timedelta

from auterity.events.retry import RetrySchedule


def test_waits_double_with_bounded_jitter_up_to_the_cap() -> None:
    schedule = RetrySchedule(initial_seconds=2.0, max_seconds=60.0)
    for attempt, floor in ((1, 2.0), (2, 4.0), (3, 8.0), (4, 16.0), (5, 32.0)):
        waits = {schedule.after(attempt) for _ in range(50)}
        assert all(timedelta(seconds=floor) <= w <= timedelta(seconds=floor + 2) for w in waits)
        assert len(waits) > 1  # jittered, so failures at one moment do not retry together
    assert {schedule.after(attempt) for attempt in (6, 10, 60)} == {timedelta(seconds=60)}
