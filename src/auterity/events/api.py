"""Event routes: recent events with their deliveries, dead letters, and replaying them."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request

from auterity.events import service
from auterity.events.bus import EventBus
from auterity.events.schemas import DeadLetterPage, EventOut, EventPage, ReplayOut
from auterity.identity.deps import TenantSession, require
from auterity.identity.permissions import Permission
from auterity.identity.principal import Principal

router = APIRouter(prefix="/api/events", tags=["events"])
EventReader = Annotated[Principal, require(Permission.EVENT_READ)]
EventReplayer = Annotated[Principal, require(Permission.EVENT_REPLAY)]
Limit = Annotated[int, Query(ge=1, le=200)]
NAME = r"^[A-Za-z0-9_.:-]+$"


@router.get("", response_model=EventPage)
async def list_events(
    principal: EventReader,
    session: TenantSession,
    type: Annotated[str | None, Query(max_length=200, pattern=NAME)] = None,
    cursor: uuid.UUID | None = None,
    limit: Limit = 50,
) -> EventPage:
    """Your tenant's events, newest first (kept for the retention period once delivered),
    each with its delivery to every subscriber."""
    items, next_cursor = await service.list_events(session, type, cursor, limit)
    return EventPage(items=items, next_cursor=next_cursor)


@router.get("/dead-letters", response_model=DeadLetterPage)
async def list_dead_letters(
    principal: EventReader,
    session: TenantSession,
    subscriber: Annotated[str | None, Query(max_length=100, pattern=NAME)] = None,
    cursor: uuid.UUID | None = None,
    limit: Limit = 50,
) -> DeadLetterPage:
    """Deliveries that failed every attempt, newest first: replay them once the cause is fixed."""
    items, next_cursor = await service.list_dead_letters(session, subscriber, cursor, limit)
    return DeadLetterPage(items=items, next_cursor=next_cursor)


@router.get("/{event_id}", response_model=EventOut)
async def get_event(
    event_id: uuid.UUID, principal: EventReader, session: TenantSession
) -> EventOut:
    return await service.get_event(session, event_id)


@router.post("/{event_id}/replay", response_model=ReplayOut)
async def replay_event(
    event_id: uuid.UUID,
    request: Request,
    principal: EventReplayer,
    session: TenantSession,
    subscriber: Annotated[str | None, Query(max_length=100, pattern=NAME)] = None,
) -> ReplayOut:
    """Deliver the event again to the subscribers whose delivery is dead (or to the one
    named), with a fresh set of attempts. 409 when there is none to replay."""
    subscribers = await service.replay(session, event_id, subscriber)
    bus: EventBus = request.app.state.events
    await session.commit()
    bus.wake()
    return ReplayOut(event_id=event_id, subscribers=subscribers)


routers = (router,)
