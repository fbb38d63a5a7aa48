"""The rate limiter, run through the same checks in memory and on the real Redis."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from auterity.core.errors import ServiceUnavailable
from auterity.core.ratelimit import Quota, RateLimiter, build_rate_limiter
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
