"""Run events: every state change of a run is a numbered event, stored, then announced.

Events are rows (so a client that reconnects with `Last-Event-ID` gets what it missed, from
any process); `EventHub` only wakes in-process listeners early instead of waiting for a poll.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from auterity.automatrix.models import Run, RunEvent


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


async def record_event(
    session: AsyncSession, run: Run, type_: str, data: dict[str, Any] | None = None
) -> None:
    """Append an event with the run's next sequence number (in the caller's transaction)."""
    await append_events(session, run, [(type_, data or {})])


async def append_events(
    session: AsyncSession,
    run: Run,
    events: Sequence[tuple[str, dict[str, Any]]],
    **run_values: Any,
) -> bool:
    """Append `events` with the run's next sequence numbers and set `run_values` on the run.

    One UPDATE takes the numbers (atomically, as concurrent writers may append too) and sets
    the values; one INSERT writes the events; both in the caller's transaction. Answers the
    run's `cancel_requested` as that UPDATE read it, so a driver learns of a cancel request
    without a query of its own.
    """
    row = (
        await session.execute(
            update(Run)
            .where(Run.id == run.id)
            .values(event_seq=Run.event_seq + len(events), **run_values)
            .returning(Run.event_seq, Run.cancel_requested)
            .execution_options(synchronize_session=False)
        )
    ).one()
    # The number is already stored: keep the loaded object in step without dirtying it.
    set_committed_value(run, "event_seq", row.event_seq)
    if events:
        first = row.event_seq - len(events) + 1
        await session.execute(
            insert(RunEvent),
            [
                {
                    "tenant_id": run.tenant_id,
                    "run_id": run.id,
                    "seq": first + offset,
                    "type": type_,
                    "data": data,
                }
                for offset, (type_, data) in enumerate(events)
            ],
        )
    return bool(row.cancel_requested)


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
