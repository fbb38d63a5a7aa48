"""Rate-limit counters (GCRA) kept in memory or, when configured, in Redis.

The algorithm is GCRA in its continuous-state leaky-bucket form (ITU-T I.371; the algorithm
of redis-cell): each counter is a bucket of capacity `limit` that drains `limit` units per
window, continuously. A request of `cost` units is admitted when it fits in the bucket, so a
key may burst up to its whole limit and then gets back `limit / window` units per second.

State is kept in integers so Redis' Lua (doubles) and Python agree exactly: the level is in
units x milliseconds-per-window (a unit adds `window_ms`, a millisecond drains `limit`), the
capacity is `limit x window_ms`.

`hit_all` admits several counters at once, all or nothing: one Lua script call (one round
trip) when Redis is configured, and a refused counter counts nothing anywhere. The clock is
the caller's (wall clock by default, a test's clock in tests); in Redis that means the app
servers' clocks, which NTP keeps far closer than the millisecond resolution matters.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from auterity.core.errors import ServiceUnavailable
from auterity.core.settings import Settings

KEY_PREFIX = "auterity:ratelimit"
Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Quota:
    """At most `limit` units per `window_seconds`, counted per key under `name`."""

    name: str
    limit: int
    window_seconds: int
    # Derived once (they are read several times per request): the level one unit adds, and
    # the bucket's capacity, in units x milliseconds-per-window.
    window_ms: int = field(init=False, repr=False, compare=False)
    capacity: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "window_ms", self.window_seconds * 1000)
        object.__setattr__(self, "capacity", self.limit * self.window_seconds * 1000)


@dataclass(frozen=True, slots=True)
class Usage:
    """Where a key stands against a quota after (or without) counting a request."""

    quota: Quota
    allowed: bool
    remaining: int  # units that would still fit now
    reset_after: int  # whole seconds until the full allowance is back (0: nothing counted)
    # Refused: whole seconds until the refused cost would fit. Admitted: until one more unit
    # fits (0 while `remaining` > 0).
    retry_after: int = 0


@dataclass(frozen=True, slots=True)
class Charge:
    """`cost` units for `key` against `quota`: one item of an all-or-nothing `hit_all`."""

    quota: Quota
    key: str
    cost: int = 1


class Storage(Protocol):
    """Reads every bucket's drained level and, if all of them fit and `commit`, adds the costs."""

    async def admit(self, charges: Sequence[Charge], now_ms: int, commit: bool) -> list[int]: ...


def drained(level: int, updated_ms: int, now_ms: int, quota: Quota) -> int:
    """The level `level` (set at `updated_ms`) has drained to by `now_ms`."""
    return max(0, level - max(0, now_ms - updated_ms) * quota.limit)


def fits(level: int, charge: Charge) -> bool:
    return level + charge.cost * charge.quota.window_ms <= charge.quota.capacity


def _seconds(level: int, quota: Quota) -> int:
    """Whole seconds for `level` to drain (a bucket drains `limit` per millisecond)."""
    return math.ceil(max(0, level) / quota.limit / 1000) if quota.limit else 0


def usage(charge: Charge, level: int, admitted: bool) -> Usage:
    """The standing of `charge` given its bucket's level before the charge."""
    quota = charge.quota
    window_ms, capacity = quota.window_ms, quota.capacity
    added = charge.cost * window_ms
    room = level + added <= capacity
    after = level + added if admitted else level
    remaining = max(0, (capacity - after) // window_ms) if window_ms else 0
    if room and admitted:
        retry = 0 if remaining else _seconds(after + window_ms - capacity, quota)
    elif room:
        retry = 0  # this quota had room; another one refused the request
    elif added > capacity:
        retry = _seconds(level, quota)  # it never fits: say when the allowance is whole
    else:
        retry = max(1, _seconds(level + added - capacity, quota))
    return Usage(quota, room, remaining, _seconds(after, quota), retry)


class MemoryStorage:
    """This process's buckets: key -> (level, last update in ms)."""

    def __init__(self) -> None:
        self.buckets: dict[str, tuple[int, int]] = {}
        self._sweep_at = 0

    async def admit(self, charges: Sequence[Charge], now_ms: int, commit: bool) -> list[int]:
        # No await in here: the check and the update are one step for the event loop.
        levels = []
        for charge in charges:
            level, updated = self.buckets.get(_key(charge), (0, now_ms))
            levels.append(drained(level, updated, now_ms, charge.quota))
        if commit and all(fits(lv, c) for lv, c in zip(levels, charges, strict=True)):
            for level, charge in zip(levels, charges, strict=True):
                key = _key(charge)
                updated = max(now_ms, self.buckets.get(key, (0, now_ms))[1])
                self.buckets[key] = (level + charge.cost * charge.quota.window_ms, updated)
        if len(self.buckets) > self._sweep_at:
            self._sweep(now_ms)
        return levels

    def _sweep(self, now_ms: int) -> None:
        """Forget empty buckets (an empty bucket and no bucket are the same)."""
        for key, (level, updated) in list(self.buckets.items()):
            # A bucket drains at least one unit of level per ms, so `level` ms after its
            # last update it is certainly empty (the exact test needs its quota).
            if now_ms - updated >= level:
                del self.buckets[key]
        self._sweep_at = max(10_000, 2 * len(self.buckets))


# GCRA (continuous-state leaky bucket) over several buckets, all or nothing.
# KEYS[i]: bucket i, a hash {l = level, t = last update in ms}.
# ARGV[1]: integers separated by spaces (one argument: redis-py packs each argument in Python,
# so fewer is cheaper): now (ms), 1 to add the costs when all fit or 0 to only look, then per
# bucket its drain per ms (the limit), added level (cost x window ms), capacity (limit x window ms).
# Returns the drained levels before the charge; the caller works out admission the same way.
_ADMIT_LUA = """
local n = {}
for number in string.gmatch(ARGV[1], '%d+') do n[#n + 1] = tonumber(number) end
local now = n[1]
local levels, updates, admitted = {}, {}, true
for i, key in ipairs(KEYS) do
  local rate, add, cap = n[3*i], n[3*i+1], n[3*i+2]
  local state = redis.call('HMGET', key, 'l', 't')
  local level, updated = tonumber(state[1]) or 0, tonumber(state[2]) or now
  level = math.max(0, level - math.max(0, now - updated) * rate)
  levels[i], updates[i] = level, math.max(now, updated)
  if level + add > cap then admitted = false end
end
if admitted and n[2] == 1 then
  for i, key in ipairs(KEYS) do
    local level = levels[i] + n[3*i+1]
    if level > 0 then
      redis.call('HSET', key, 'l', string.format('%d', level), 't', string.format('%d', updates[i]))
      redis.call('PEXPIRE', key, math.ceil(level / n[3*i]) + 1)
    end
  end
end
return levels
"""


class RedisStorage:
    """Buckets in Redis, shared by every process; one script call per admission."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._script = redis.register_script(_ADMIT_LUA)

    async def admit(self, charges: Sequence[Charge], now_ms: int, commit: bool) -> list[int]:
        numbers: list[int] = [now_ms, 1 if commit else 0]
        for charge in charges:
            quota = charge.quota
            numbers += [quota.limit, charge.cost * quota.window_ms, quota.capacity]
        spec = " ".join(map(str, numbers))
        levels = await self._script(keys=[_key(c) for c in charges], args=[spec])
        return [int(level) for level in levels]


def _key(charge: Charge) -> str:
    return f"{KEY_PREFIX}:{charge.quota.name}:{charge.key}"


class RateLimiter:
    """Counts requests (or any units: tokens) per key against quotas; `peek` only looks."""

    def __init__(self, storage: Storage, clock: Clock = time.time) -> None:
        self.storage = storage
        self.clock = clock

    async def hit_all(self, charges: Sequence[Charge]) -> list[Usage]:
        """Count every charge if all fit, none otherwise; one Usage per charge, in order.

        The request is admitted when every `Usage.allowed` is True.
        """
        return await self._admit(charges, commit=True)

    async def hit(self, quota: Quota, key: str, cost: int = 1) -> Usage:
        """Count `cost` units for `key`; `allowed` is False (and nothing counted) when over."""
        return (await self._admit([Charge(quota, key, cost)], commit=True))[0]

    async def peek(self, quota: Quota, key: str, cost: int = 1) -> Usage:
        """Where `key` stands (would `cost` more fit?), without counting anything."""
        return (await self._admit([Charge(quota, key, cost)], commit=False))[0]

    async def _admit(self, charges: Sequence[Charge], commit: bool) -> list[Usage]:
        if not charges:
            return []
        now_ms = int(self.clock() * 1000)
        try:
            levels = await self.storage.admit(charges, now_ms, commit)
        except (RedisError, OSError) as exc:
            raise ServiceUnavailable(f"The rate-limit store is unavailable: {exc}") from exc
        admitted = commit and all(fits(lv, c) for lv, c in zip(levels, charges, strict=True))
        return [usage(c, lv, admitted) for lv, c in zip(levels, charges, strict=True)]


def build_rate_limiter(settings: Settings, redis: Redis | None) -> RateLimiter:
    """Redis-backed when the runtime has Redis (sharing its connection pool), else in memory."""
    if redis is not None and settings.redis_url:
        return RateLimiter(RedisStorage(redis))
    return RateLimiter(MemoryStorage())
