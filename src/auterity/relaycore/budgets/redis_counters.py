"""Budget counters in Redis: one hash per budget and period, changed only by Lua scripts.

The reserve script checks every hard budget and then reserves on all of them inside one
script, which Redis runs atomically, so concurrent requests cannot both pass a check that
only one of them fits. Period hashes expire a day after their period ends (by the ledger's
clock, so a test's frozen clock and Redis agree).
"""

from __future__ import annotations

from collections.abc import Sequence

from redis.asyncio import Redis
from redis.exceptions import RedisError

from auterity.core.errors import ServiceUnavailable
from auterity.relaycore.budgets.counters import CounterLine, Refusal, Reserved, Spend

KEY_PREFIX = "auterity:relay:budget:"
EXPIRY_GRACE = 86_400  # seconds a counter outlives its period, for reports

# KEYS: one hash per line. ARGV: estimate, then per line: limit, hard (1/0), threshold, ttl (s).
# Returns {0, line, spent, reserved} when a hard line refuses, else {1, flags...} with per line
# 1 = over its threshold, 2 = first request of the period to cross it.
_RESERVE = """
local estimate = tonumber(ARGV[1])
for i = 1, #KEYS do
  local base = 2 + (i - 1) * 4
  if ARGV[base + 1] == '1' then
    local spent = tonumber(redis.call('HGET', KEYS[i], 'spent') or '0')
    local reserved = tonumber(redis.call('HGET', KEYS[i], 'reserved') or '0')
    if spent + reserved + estimate > tonumber(ARGV[base]) then
      return {0, i, spent, reserved}
    end
  end
end
local result = {1}
for i = 1, #KEYS do
  local base = 2 + (i - 1) * 4
  local reserved = redis.call('HINCRBY', KEYS[i], 'reserved', ARGV[1])
  local spent = tonumber(redis.call('HGET', KEYS[i], 'spent') or '0')
  if ARGV[base + 3] ~= '0' then redis.call('EXPIRE', KEYS[i], ARGV[base + 3]) end
  local flags = 0
  if spent + reserved >= tonumber(ARGV[base + 2]) then
    flags = 1
    if redis.call('HSETNX', KEYS[i], 'alerted', '1') == 1 then flags = 3 end
  end
  result[#result + 1] = flags
end
return result
"""

# ARGV: minus the estimate, actual (passed as strings: Lua prints big numbers as 1e+15).
_SETTLE = """
for i = 1, #KEYS do
  redis.call('HINCRBY', KEYS[i], 'reserved', ARGV[1])
  redis.call('HINCRBY', KEYS[i], 'spent', tonumber(ARGV[2]))
end
return 1
"""


def counter_key(line: CounterLine) -> str:
    # The hash tag keeps one tenant's counters in one Redis Cluster slot, so the script may
    # touch all of them.
    return f"{KEY_PREFIX}{{{line.rule.tenant_id}}}:{line.rule.id}:{line.window.key}"


class RedisCounters:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._reserve = redis.register_script(_RESERVE)
        self._settle = redis.register_script(_SETTLE)

    async def reserve(self, lines: Sequence[CounterLine], estimate: int) -> Reserved | Refusal:
        args: list[int | str] = [estimate]
        for line in lines:
            ttl = line.window.seconds_left + EXPIRY_GRACE if line.window.ends_at else 0
            args += [
                line.rule.limit_micros,
                "1" if line.rule.hard else "0",
                line.rule.threshold_micros,
                ttl,
            ]
        try:
            result = await self._reserve(keys=[counter_key(line) for line in lines], args=args)
        except (RedisError, OSError) as exc:
            raise ServiceUnavailable(f"The budget store is unavailable: {exc}") from exc
        if int(result[0]) == 0:
            line = lines[int(result[1]) - 1]
            return Refusal(line, Spend(int(result[2]), int(result[3])))
        flags = [int(flag) for flag in result[1:]]
        return Reserved(
            over_threshold=tuple(bool(flag & 1) for flag in flags),
            newly_alerted=tuple(bool(flag & 2) for flag in flags),
        )

    async def settle(self, lines: Sequence[CounterLine], estimate: int, actual: int) -> None:
        try:
            await self._settle(keys=[counter_key(line) for line in lines], args=[-estimate, actual])
        except (RedisError, OSError) as exc:
            raise ServiceUnavailable(f"The budget store is unavailable: {exc}") from exc

    async def read(self, lines: Sequence[CounterLine]) -> list[Spend]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for line in lines:
                pipe.hmget(counter_key(line), ["spent", "reserved"])
            rows = await pipe.execute()
        return [Spend(int(spent or 0), int(reserved or 0)) for spent, reserved in rows]

    async def close(self) -> None:
        """The connection pool belongs to the runtime."""
