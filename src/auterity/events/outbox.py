"""The outbox: events written in the caller's transaction, with a pending delivery for every
registered subscriber, so an event exists (and will be delivered) exactly when its change does.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import Table, delete, exists, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from auterity.core.clock import utcnow
from auterity.core.ids import new_id
from auterity.core.tenancy import CrossTenantWrite, session_tenant
from auterity.events.event import PlatformEvent
from auterity.events.models import Event, EventDelivery, EventSubscriber


async def record(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    type_: str,
    data: dict[str, Any] | None = None,
    *,
    id: uuid.UUID | None = None,
) -> PlatformEvent:
    """Write one event in `session`'s transaction: it commits with the caller's change or
    not at all. Nothing is delivered before that commit.

    With a given `id` already recorded (a repeat), nothing is written and the recorded event
    is returned; two repeats racing are settled by the primary key, in a savepoint."""
    event = PlatformEvent(tenant_id=tenant_id, type=type_, data=data or {}, id=id or new_id())
    if id is None:
        await record_many(session, [event])
        return event
    known = await _recorded(session, id)
    if known is not None:
        return known
    try:
        async with session.begin_nested():
            await record_many(session, [event])
    except IntegrityError:
        known = await _recorded(session, id)
        if known is None:
            raise
        return known
    return event


async def _recorded(session: AsyncSession, event_id: uuid.UUID) -> PlatformEvent | None:
    row = (await session.execute(select(Event).where(Event.id == event_id))).scalar_one_or_none()
    if row is None:
        return None
    return PlatformEvent(
        tenant_id=row.tenant_id, type=row.type, data=row.data, id=row.id, at=row.occurred_at
    )


async def record_many(session: AsyncSession, events: Sequence[PlatformEvent]) -> None:
    """`record` for several events at once (the engine's group commit): two statements."""
    if not events:
        return
    bound = session_tenant(session)
    if bound is not None and any(event.tenant_id != bound for event in events):
        raise CrossTenantWrite("an event of another tenant recorded")
    await session.execute(
        _EVENT_INSERT,
        [
            {
                "id": e.id,
                "tenant_id": e.tenant_id,
                "type": e.type,
                "data": e.data,
                "occurred_at": e.at,
            }
            for e in events
        ],
    )
    names = (await session.execute(select(EventSubscriber.name))).scalars().all()
    if names:
        await session.execute(
            _DELIVERY_INSERT,
            [
                {
                    "id": new_id(),
                    "tenant_id": e.tenant_id,
                    "event_id": e.id,
                    "subscriber": name,
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": e.at,
                }
                for e in events
                for name in names
            ],
        )


# Core statements, not the ORM's bulk paths: the engine's group commit writes these, and the
# rows are plain values already.
_events: Table = Event.__table__  # type: ignore[assignment]
_deliveries: Table = EventDelivery.__table__  # type: ignore[assignment]
_EVENT_INSERT = insert(_events)
_DELIVERY_INSERT = insert(_deliveries)


async def register_subscribers(session: AsyncSession, names: Iterable[str]) -> None:
    """Make `names` receive every event recorded from now on, by any process."""
    rows = [{"name": name, "created_at": utcnow()} for name in names]
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        statement: Any = postgresql.insert(EventSubscriber).on_conflict_do_nothing()
    else:
        statement = sqlite.insert(EventSubscriber).on_conflict_do_nothing()
    await session.execute(statement, rows)


async def prune(session: AsyncSession, retention: timedelta) -> int:
    """Delete the events older than `retention` that every subscriber has (their delivery
    rows go with them); an event with a pending or dead delivery stays. Answers how many."""
    unfinished = exists().where(
        EventDelivery.event_id == Event.id, EventDelivery.status != "delivered"
    )
    result = await session.execute(
        delete(Event)
        .where(Event.occurred_at < utcnow() - retention, ~unfinished)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
