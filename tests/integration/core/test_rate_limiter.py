"""The rate limiter, run through the same checks in memory and on the real Redis."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from auterity.core.errors import ServiceUnavailable
from auterity.core.ratelimit import Charge, Quota, RateLimiter, build_rate_limiter
from tests.conftest import make_settings


@pytest.fixture(params=["memory", "redis"])
async def limiter(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[RateLimiter]:
    if request.param == "memory":
        yield build_rate_limiter(make_settings(tmp_path), None)
        return
    url = request.getfixturevalue("redis_url")
    redis = Redis.from_url(url)
    try:
        yield build_rate_limiter(make_settings(tmp_path, redis_url=url), redis)
    finally:
        await redis.aclose()


async def test_counts_down_then_refuses(limiter: RateLimiter) -> None:
    quota = Quota("test", 3, 3600)
    key = uuid.uuid4().hex
    seen = [await limiter.hit(quota, key) for _ in range(3)]
    assert [u.allowed for u in seen] == [True, True, True]
    assert [u.remaining for u in seen] == [2, 1, 0]
    refused = await limiter.hit(quota, key)
    assert not refused.allowed and refused.remaining == 0
    assert 0 < refused.reset_after <= 3600


async def test_keys_and_quotas_are_separate(limiter: RateLimiter) -> None:
    quota = Quota("test", 1, 3600)
    key = uuid.uuid4().hex
    assert (await limiter.hit(quota, key)).allowed
    assert not (await limiter.hit(quota, key)).allowed
    assert (await limiter.hit(quota, uuid.uuid4().hex)).allowed
    assert (await limiter.hit(Quota("other", 1, 3600), key)).allowed


async def test_peek_does_not_count(limiter: RateLimiter) -> None:
    quota = Quota("test", 2, 3600)
    key = uuid.uuid4().hex
    for _ in range(5):
        assert (await limiter.peek(quota, key)).allowed
    assert (await limiter.hit(quota, key)).remaining == 1
    assert (await limiter.hit(quota, key)).allowed
    assert not (await limiter.peek(quota, key)).allowed


async def test_unreachable_redis_is_reported_as_unavailable(tmp_path: Path) -> None:
    url = "redis://127.0.0.1:1/0"
    redis = Redis.from_url(url)
    limiter = build_rate_limiter(make_settings(tmp_path, redis_url=url), redis)
    try:
        with pytest.raises(ServiceUnavailable):
            await limiter.hit(Quota("test", 1, 60), "k")
    finally:
        await redis.aclose()


class WallClock:
    """A wall clock (seconds) that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def wall(limiter: RateLimiter) -> WallClock:
    controlled = WallClock()
    limiter.clock = controlled
    return controlled


async def test_a_full_burst_then_a_steady_refill(limiter: RateLimiter, wall: WallClock) -> None:
    quota, key = Quota("burst", 4, 60), uuid.uuid4().hex  # one unit back every 15 s
    burst = [await limiter.hit(quota, key) for _ in range(4)]
    assert [(u.allowed, u.remaining) for u in burst] == [(True, 3), (True, 2), (True, 1), (True, 0)]
    assert [u.reset_after for u in burst] == [15, 30, 45, 60]
    assert [u.retry_after for u in burst] == [0, 0, 0, 15]
    refused = await limiter.hit(quota, key)
    assert (refused.allowed, refused.remaining, refused.retry_after) == (False, 0, 15)
    assert refused.reset_after == 60  # the refusal counted nothing
    wall.now += 14.999
    assert not (await limiter.hit(quota, key)).allowed
    wall.now += 0.001
    assert (await limiter.hit(quota, key)).allowed
    wall.now += 30
    assert (await limiter.peek(quota, key)).remaining == 2
    wall.now += 3600
    whole = await limiter.peek(quota, key)
    assert (whole.remaining, whole.reset_after) == (4, 0)


async def test_costs_count_as_that_many_units(limiter: RateLimiter, wall: WallClock) -> None:
    quota, key = Quota("tokens", 1000, 60), uuid.uuid4().hex
    assert (await limiter.hit(quota, key, 600)).remaining == 400
    refused = await limiter.hit(quota, key, 600)
    assert not refused.allowed and refused.retry_after == 12  # 200 tokens at 1000/min
    assert (await limiter.hit(quota, key, 400)).remaining == 0
    # More than the whole limit never fits, and is not counted.
    wall.now += 60
    too_big = await limiter.hit(quota, key, 1001)
    assert not too_big.allowed and (await limiter.peek(quota, key)).remaining == 1000


async def test_hit_all_is_all_or_nothing(limiter: RateLimiter, wall: WallClock) -> None:
    roomy, tight, key = Quota("roomy", 2, 60), Quota("tight", 1, 60), uuid.uuid4().hex
    charges = [Charge(roomy, key), Charge(tight, key)]
    first = await limiter.hit_all(charges)
    assert [(u.allowed, u.remaining) for u in first] == [(True, 1), (True, 0)]
    second = await limiter.hit_all(charges)
    assert [(u.allowed, u.retry_after) for u in second] == [(True, 0), (False, 60)]
    # The tight quota refused, so the roomy one counted nothing either.
    assert (await limiter.peek(roomy, key)).remaining == 1
    wall.now += 60
    assert all(u.allowed for u in await limiter.hit_all(charges))
    assert await limiter.hit_all([]) == []


async def test_peek_says_whether_a_cost_would_fit(limiter: RateLimiter, wall: WallClock) -> None:
    quota, key = Quota("peek", 10, 60), uuid.uuid4().hex
    await limiter.hit(quota, key, 7)
    assert (await limiter.peek(quota, key, 3)).allowed
    looked = await limiter.peek(quota, key, 4)
    assert (looked.allowed, looked.remaining, looked.retry_after) == (False, 3, 6)
