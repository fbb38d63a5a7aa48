"""Login throttling per account and per client address, with lockouts that expire.

Redis (INCR with expiry, shared by every process) when configured; a database table
otherwise. Both count failures in a fixed window and lock the key once it is exceeded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from redis.asyncio import Redis
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from auterity.core.clock import utcnow
from auterity.core.database import Database
from auterity.identity.models import LoginFailure


@dataclass(frozen=True)
class Limit:
    max_failures: int
    window: timedelta
    lockout: timedelta


ACCOUNT_LIMIT = Limit(5, timedelta(minutes=15), timedelta(minutes=15))
ADDRESS_LIMIT = Limit(30, timedelta(minutes=15), timedelta(minutes=15))


class Throttle(Protocol):
    async def locked_for(self, key: str) -> float:
        """Seconds until `key` may try again (0 when it may now)."""

    async def fail(self, key: str, limit: Limit) -> None: ...

    async def reset(self, key: str) -> None: ...


class RedisThrottle:
    def __init__(self, redis: Redis, prefix: str = "auterity:login:") -> None:
        self.redis = redis
        self.prefix = prefix

    async def locked_for(self, key: str) -> float:
        ttl_ms = await self.redis.pttl(f"{self.prefix}lock:{key}")
        return max(0.0, ttl_ms / 1000)

    async def fail(self, key: str, limit: Limit) -> None:
        counter = f"{self.prefix}count:{key}"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(counter)
            pipe.pexpire(counter, int(limit.window.total_seconds() * 1000), nx=True)
            count, _ = await pipe.execute()
        if int(count) >= limit.max_failures:
            await self.redis.set(
                f"{self.prefix}lock:{key}", "1", px=int(limit.lockout.total_seconds() * 1000)
            )
            await self.redis.delete(counter)

    async def reset(self, key: str) -> None:
        await self.redis.delete(f"{self.prefix}count:{key}")


class DatabaseThrottle:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def locked_for(self, key: str) -> float:
        async with self.db.session(readonly=True) as session:
            row = await session.get(LoginFailure, key)
        if row is None or row.locked_until is None:
            return 0.0
        return max(0.0, (row.locked_until - utcnow()).total_seconds())

    async def fail(self, key: str, limit: Limit) -> None:
        now = utcnow()
        insert = sqlite_insert if self.db.is_sqlite else postgresql_insert
        async with self.db.session() as session:
            # Create-if-absent without a race, then lock the row for the read-modify-write.
            await session.execute(
                insert(LoginFailure)
                .values(key=key, count=0, window_started_at=now)
                .on_conflict_do_nothing(index_elements=["key"])
            )
            query = select(LoginFailure).where(LoginFailure.key == key)
            if not self.db.is_sqlite:
                query = query.with_for_update()
            row = (await session.execute(query)).scalar_one()
            if row.window_started_at + limit.window < now:
                row.count, row.window_started_at = 0, now
            row.count += 1
            if row.count >= limit.max_failures:
                row.locked_until = now + limit.lockout
                row.count, row.window_started_at = 0, now

    async def reset(self, key: str) -> None:
        async with self.db.session() as session:
            await session.execute(
                delete(LoginFailure).where(
                    LoginFailure.key == key, LoginFailure.locked_until.is_(None)
                )
            )
