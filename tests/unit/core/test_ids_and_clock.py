from __future__ import annotations

from datetime import timedelta

from auterity.core.clock import FrozenClock, set_clock, utcnow
from auterity.core.ids import new_id


def test_ids_are_uuid7_and_sort_by_creation() -> None:
    ids = [new_id() for _ in range(200)]
    assert all(value.version == 7 for value in ids)
    assert ids == sorted(ids)


def test_frozen_clock_moves_only_when_told() -> None:
    frozen = FrozenClock()
    previous = set_clock(frozen)
    try:
        start = utcnow()
        assert utcnow() == start
        frozen.advance(timedelta(minutes=5))
        assert utcnow() - start == timedelta(minutes=5)
        assert start.tzinfo is not None
    finally:
        set_clock(previous)
