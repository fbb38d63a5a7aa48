"""The platform event bus: publish into the outbox, deliver at least once to named subscribers.

`publish(tenant_id, type, data)` commits the event on its own; `publish_in(session, ...)`
writes it in the caller's transaction, so it exists exactly when the caller's change does.
Either way this process's dispatcher is woken once the event is committed, and every
process's dispatcher finds it on its next poll. Subscribers are registered by a stable name
before `start`; each gets every event, retried on failure without redelivering to the others.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import event as orm_event
from sqlalchemy.ext.asyncio import AsyncSession

from auterity.core.database import Database
from auterity.core.settings import Settings
from auterity.events import outbox
from auterity.events.dispatcher import Dispatcher
from auterity.events.event import PlatformEvent, Subscriber


class EventBus:
    def __init__(
        self, db: Database, *, owner: str | None = None, settings: Settings | None = None
    ) -> None:
        """`settings`: the delivery settings, when not the database's (tests)."""
        self.db = db
        self._subscribers: dict[str, Subscriber] = {}
        self.dispatcher = Dispatcher(db, self._subscribers, owner=owner, settings=settings)

    def subscribe(self, name: str, subscriber: Subscriber) -> None:
        """Deliver every event to `subscriber` under `name` (before `start`). The name is the
        durable subscription: keep it stable, or events pending for the old one stay there."""
        if name in self._subscribers:
            raise ValueError(f"an event subscriber named {name!r} is already registered")
        self._subscribers[name] = subscriber

    async def publish(
        self,
        tenant_id: uuid.UUID,
        type_: str,
        data: dict[str, Any] | None = None,
        *,
        id: uuid.UUID | None = None,
    ) -> PlatformEvent:
        """Record the event in a transaction of its own; answers once it is committed (its
        delivery follows at once, in the background).

        `id`: a publisher that may see the same happening twice (a redelivered webhook) gives
        it a stable id; a repeat of an id already recorded is neither recorded nor delivered
        again, and the first event is returned."""
        async with self.db.session() as session:
            event = await outbox.record(session, tenant_id, type_, data, id=id)
        self.wake()
        return event

    async def publish_in(
        self,
        session: AsyncSession,
        tenant_id: uuid.UUID,
        type_: str,
        data: dict[str, Any] | None = None,
    ) -> PlatformEvent:
        """Record the event in `session`'s transaction: delivered once that commits, never
        if it rolls back."""
        event = await outbox.record(session, tenant_id, type_, data)
        orm_event.listen(session.sync_session, "after_commit", self._woken_by_commit, once=True)
        return event

    def wake(self) -> None:
        """Deliver what was just committed here without waiting for the next poll."""
        self.dispatcher.wake()

    def _woken_by_commit(self, session: Any) -> None:
        self.wake()

    async def start(self) -> None:
        await self.dispatcher.start()

    async def stop(self) -> None:
        await self.dispatcher.stop()
