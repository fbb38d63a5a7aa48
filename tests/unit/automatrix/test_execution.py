"""Retry waits: exponential backoff with jitter, never shorter than a callee's Retry-After."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from auterity.automatrix.actions.base import ActionError
from auterity.automatrix.actions.http import retry_after_seconds
from auterity.automatrix.execution import retry_delay
from auterity.automatrix.spec import RetryPolicy
from auterity.core.clock import FrozenClock, set_clock


def policy(**values: object) -> RetryPolicy:
    return RetryPolicy.model_validate({"max_attempts": 5, **values})


def test_backoff_grows_and_is_capped() -> None:
    steady = policy(backoff={"initial": 1, "factor": 3, "max": 5}, jitter=False)
    assert [retry_delay(steady, n).total_seconds() for n in (1, 2, 3)] == [1, 3, 5]


def test_a_requested_wait_is_a_floor_with_jitter_and_capped_by_the_longest_backoff() -> None:
    jittered = policy(backoff={"initial": 1, "max": 60}, jitter=True)
    asked = ActionError("busy", kind="rate_limited", retry_after=30).as_dict()
    rng = random.Random(7)
    assert all(
        retry_delay(jittered, 1, rng, error=asked) == timedelta(seconds=30) for _ in range(20)
    )
    too_long = ActionError("busy", retry_after=3600).as_dict()
    assert retry_delay(jittered, 1, rng, error=too_long) == timedelta(seconds=60)
    shorter = ActionError("busy", retry_after=0.1).as_dict()
    steady = policy(backoff={"initial": 2}, jitter=False)
    assert retry_delay(steady, 1, error=shorter) == timedelta(seconds=2)


def test_retry_after_reads_seconds_and_http_dates_on_the_engine_clock() -> None:
    frozen = FrozenClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    previous = set_clock(frozen)
    try:
        assert retry_after_seconds("120") == 120
        assert (
            retry_after_seconds(format_datetime(frozen.now() + timedelta(minutes=2), True)) == 120
        )
        assert retry_after_seconds("Sun, 01 Mar 2026 11:00:00 GMT") == 0  # already past
        assert retry_after_seconds("soon") is None
        assert retry_after_seconds(None) is None
    finally:
        set_clock(previous)
