"""Helpers for event tests: tenants, subscribers that record or fail, and buses on one database."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import select

from auterity.core.database import Database
from auterity.core.settings import Settings
from auterity.events import EventBus, PlatformEvent
from auterity.events.models import EventDelivery
from auterity.identity.models import Tenant


@dataclass
class Recorder:
    """A subscriber that records what it handled; it fails its first `failures` calls (all of
    them while `broken`), and waits for `gate` when one is set."""

    failures: int = 0
    broken: bool = False
    gate: asyncio.Event | None = None
    calls: int = 0
    handled: list[PlatformEvent] = field(default_factory=list)
    entered: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(self, event: PlatformEvent) -> None:
        self.calls += 1
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.broken or self.calls <= self.failures:
            raise RuntimeError(f"subscriber down (call {self.calls})")
        self.handled.append(event)


@pytest.fixture
async def tenant(db: Database) -> uuid.UUID:
    async with db.session() as session:
        row = Tenant(name="Events", slug=f"events-{uuid.uuid4().hex[:8]}")
        session.add(row)
    return row.id


def make_bus(
    db: Database, owner: str = "one", settings: Settings | None = None, **subscribers: Any
) -> EventBus:
    bus = EventBus(db, owner=owner, settings=settings)
    for name, subscriber in subscribers.items():
        bus.subscribe(name, subscriber)
    return bus


async def delivery(db: Database, event_id: uuid.UUID, subscriber: str) -> EventDelivery:
    async with db.session(readonly=True) as session:
        return (
            await session.execute(
                select(EventDelivery).where(
                    EventDelivery.event_id == event_id, EventDelivery.subscriber == subscriber
                )
            )
        ).scalar_one()


async def drain(bus: EventBus) -> int:
    """Deliver everything due now; answers how many deliveries were attempted."""
    total = 0
    while handled := await bus.dispatcher.deliver_due():
        total += handled
    return total


@pytest.fixture
async def second_db(settings: Settings, db: Database) -> AsyncIterator[Database]:
    """Another connection pool on the same database, as a second process would have."""
    other = Database(settings)
    try:
        yield other
    finally:
        await other.dispose()
