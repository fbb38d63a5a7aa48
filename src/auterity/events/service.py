"""Reading the outbox and replaying dead deliveries, in a tenant-bound session (no HTTP)."""

from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from auterity.core.clock import utcnow
from auterity.core.errors import Conflict
from auterity.core.lookup import one_or_404
from auterity.core.pagination import keyset_page
from auterity.events.models import Event, EventDelivery
from auterity.events.schemas import DeadLetterOut, DeliveryOut, EventOut


async def list_events(
    session: AsyncSession, type_: str | None, cursor: uuid.UUID | None, limit: int
) -> tuple[list[EventOut], str | None]:
    """Newest first, each with its deliveries."""
    query = select(Event)
    if type_:
        query = query.where(Event.type == type_)
    rows, next_cursor = await keyset_page(session, query, Event.id, cursor, limit)
    deliveries = await _deliveries_of(session, [row.id for row in rows])
    return [_event_out(row, deliveries.get(row.id, [])) for row in rows], next_cursor


async def get_event(session: AsyncSession, event_id: uuid.UUID) -> EventOut:
    row = await one_or_404(
        session,
        select(Event).where(Event.id == event_id),
        f"Event {event_id} not found (or deleted after its retention period).",
    )
    deliveries = await _deliveries_of(session, [row.id])
    return _event_out(row, deliveries.get(row.id, []))


async def list_dead_letters(
    session: AsyncSession, subscriber: str | None, cursor: uuid.UUID | None, limit: int
) -> tuple[list[DeadLetterOut], str | None]:
    """Deliveries that failed every attempt, newest first."""
    query = select(EventDelivery).where(EventDelivery.status == "dead")
    if subscriber:
        query = query.where(EventDelivery.subscriber == subscriber)
    rows, next_cursor = await keyset_page(session, query, EventDelivery.id, cursor, limit)
    events = {
        event.id: event
        for event in (
            await session.execute(select(Event).where(Event.id.in_({r.event_id for r in rows})))
        ).scalars()
    }
    items = [
        DeadLetterOut(
            **{**DeliveryOut.model_validate(row).model_dump(), "next_attempt_at": None},
            id=row.id,
            event_id=row.event_id,
            event_type=events[row.event_id].type,
            occurred_at=events[row.event_id].occurred_at,
        )
        for row in rows
    ]
    return items, next_cursor


async def replay(
    session: AsyncSession, event_id: uuid.UUID, subscriber: str | None = None
) -> list[str]:
    """Re-queue the event's dead deliveries (or the one to `subscriber`) with fresh attempts;
    answers the subscribers re-queued."""
    event = await get_event(session, event_id)
    dead = [d.subscriber for d in event.deliveries if d.status == "dead"]
    if subscriber is not None:
        dead = [name for name in dead if name == subscriber]
    if not dead:
        states = ", ".join(f"{d.subscriber}: {d.status}" for d in event.deliveries) or "none"
        asked = f" to {subscriber!r}" if subscriber else ""
        raise Conflict(
            f"Event {event_id} has no dead delivery{asked} to replay (deliveries: {states}).",
            extra={"deliveries": [d.model_dump(mode="json") for d in event.deliveries]},
        )
    await session.execute(
        update(EventDelivery)
        .where(
            EventDelivery.event_id == event_id,
            EventDelivery.status == "dead",
            EventDelivery.subscriber.in_(dead),
        )
        .values(status="pending", attempts=0, next_attempt_at=utcnow(), claimed_by=None)
        .execution_options(synchronize_session=False)
    )
    return dead


async def _deliveries_of(
    session: AsyncSession, event_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[DeliveryOut]]:
    found: dict[uuid.UUID, list[DeliveryOut]] = {}
    if not event_ids:
        return found
    rows = await session.execute(
        select(EventDelivery)
        .where(EventDelivery.event_id.in_(event_ids))
        .order_by(EventDelivery.subscriber)
    )
    for row in rows.scalars():
        out = DeliveryOut.model_validate(row)
        if row.status != "pending":
            out.next_attempt_at = None
        found.setdefault(row.event_id, []).append(out)
    return found


def _event_out(row: Event, deliveries: list[DeliveryOut]) -> EventOut:
    return EventOut(
        id=row.id, type=row.type, data=row.data, occurred_at=row.occurred_at, deliveries=deliveries
    )
