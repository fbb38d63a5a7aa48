"""The one clock. Code asks `clock.now()`; tests swap in a `FrozenClock` instead of sleeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """Wall-clock time, always timezone-aware UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta | float) -> None:
        self._now += delta if isinstance(delta, timedelta) else timedelta(seconds=delta)


clock: Clock = SystemClock()


def utcnow() -> datetime:
    """Current time from the active clock."""
    return clock.now()


def set_clock(new_clock: Clock) -> Clock:
    """Install `new_clock`, returning the previous one (for tests)."""
    global clock
    previous, clock = clock, new_clock
    return previous
