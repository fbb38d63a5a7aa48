"""Run events: every state change of a run is a numbered event, stored, then announced.

Events are rows (so a client that reconnects with `Last-Event-ID` gets what it missed, from
any process), numbered and written by the run's driver with the changes they describe;
`EventHub` only wakes in-process listeners early instead of waiting for a poll.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from auterity.automatrix.models import RunEvent


class EventHub:
    def __init__(self) -> None:
        self._waiters: dict[uuid.UUID, set[asyncio.Event]] = defaultdict(set)

    def notify(self, run_id: uuid.UUID) -> None:
        for waiter in self._waiters.get(run_id, ()):
            waiter.set()

    async def wait(self, run_id: uuid.UUID, timeout: float) -> None:
        event = asyncio.Event()
        self._waiters[run_id].add(event)
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            pass
        finally:
            self._waiters[run_id].discard(event)
            if not self._waiters[run_id]:
                self._waiters.pop(run_id, None)


async def events_after(
    session: AsyncSession, run_id: uuid.UUID, after: int, limit: int = 500
) -> list[RunEvent]:
    rows = await session.execute(
        select(RunEvent)
        .where(RunEvent.run_id == run_id, RunEvent.seq > after)
        .order_by(RunEvent.seq)
        .limit(limit)
    )
    return list(rows.scalars())
