"""The database login throttle under concurrency (the Redis one is covered via the API)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from auterity.core.database import Database
from auterity.identity.throttle import DatabaseThrottle, Limit


async def test_concurrent_failures_are_all_counted(db: Database) -> None:
    throttle = DatabaseThrottle(db)
    limit = Limit(max_failures=20, window=timedelta(minutes=5), lockout=timedelta(minutes=5))
    await asyncio.gather(*(throttle.fail("account:race@example.com", limit) for _ in range(19)))
    assert await throttle.locked_for("account:race@example.com") == 0
    await throttle.fail("account:race@example.com", limit)
    assert await throttle.locked_for("account:race@example.com") > 0
