"""Run events: every state change of a run is a numbered event, stored, then announced.

Events are rows (so a client that reconnects with `Last-Event-ID` gets what it missed, from
any process). A live run's events are numbered in memory and written by the driver holding
its lease, with the changes they describe; `record_event` numbers events in the database, for
runs no driver owns (a finished run being retried; a retry run in the transaction creating
it; a decision on a run whose driver stopped). `EventHub` only wakes in-process listeners
early instead of waiting for a poll.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from auterity.automatrix.models import FINISHED_RUN, Run, RunEvent
from auterity.core.clock import utcnow
from auterity.core.database import Database


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
            async with asyncio.timeout(timeout):
                await event.wait()
        except TimeoutError:
            pass
        finally:
            self._waiters[run_id].discard(event)
            if not self._waiters[run_id]:
                self._waiters.pop(run_id, None)


async def record_event(
    session: AsyncSession, run: Run, type_: str, data: dict[str, Any] | None = None
) -> RunEvent:
    """Append an event to a run no driver owns, numbered in the database (caller's transaction).

    Only for runs without a live driver: a driver numbers its run's events in memory and would
    otherwise hand out a number taken here.
    """
    seq = (
        await session.execute(
            update(Run)
            .where(Run.id == run.id)
            .values(event_seq=Run.event_seq + 1)
            .returning(Run.event_seq)
        )
    ).scalar_one()
    run.event_seq = seq
    event = RunEvent(tenant_id=run.tenant_id, run_id=run.id, seq=seq, type=type_, data=data or {})
    session.add(event)
    return event


async def record_event_if_undriven(
    session: AsyncSession, run: Run, type_: str, data: dict[str, Any] | None = None
) -> RunEvent | None:
    """`record_event`, unless a driver holds the run's lease (None then: that driver
    announces the change itself). One conditional UPDATE decides, so a driver claiming the
    run at the same moment either sees this event's number or announces the change."""
    seq = (
        await session.execute(
            update(Run)
            .where(
                Run.id == run.id,
                or_(Run.lease_owner.is_(None), Run.lease_expires_at < utcnow()),
            )
            .values(event_seq=Run.event_seq + 1)
            .returning(Run.event_seq)
        )
    ).scalar_one_or_none()
    if seq is None:
        return None
    run.event_seq = seq
    event = RunEvent(tenant_id=run.tenant_id, run_id=run.id, seq=seq, type=type_, data=data or {})
    session.add(event)
    return event


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


async def follow_events(
    db: Database, hub: EventHub, run_id: uuid.UUID, after: int, keepalive: float = 5.0
) -> AsyncIterator[RunEvent | None]:
    """Stored events after `after`, then live ones until the run ends; None is a keep-alive."""
    seq = after
    while True:
        async with db.session(readonly=True) as reader:
            batch = await events_after(reader, run_id, seq)
            status = (await reader.execute(select(Run.status).where(Run.id == run_id))).scalar_one()
        for event in batch:
            seq = event.seq
            yield event
        if not batch and status in FINISHED_RUN:
            return
        if not batch:
            await hub.wait(run_id, keepalive)
            yield None


def event_payload(event: RunEvent) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "type": event.type,
        "data": event.data,
        "at": event.created_at.isoformat(),
    }
