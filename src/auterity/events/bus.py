"""The in-process event bus: each published event goes to every subscriber, in order.

Delivery is at most once and only within this process: an event published by a process that
dies before its subscribers finish is lost. A subscriber's failure is logged and does not
stop the others or the publisher.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from auterity.core.clock import utcnow
from auterity.core.ids import new_id
from auterity.core.logging import get_logger

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class PlatformEvent:
    """Something that happened in one tenant: `type` names it (`run.succeeded`), `data` says it."""

    tenant_id: uuid.UUID
    type: str
    data: dict[str, Any]
    id: uuid.UUID = field(default_factory=new_id)
    at: datetime = field(default_factory=utcnow)

    def as_dict(self) -> dict[str, Any]:
        return {"id": str(self.id), "type": self.type, "data": self.data, "at": self.at.isoformat()}


Subscriber = Callable[[PlatformEvent], Awaitable[None]]


class EventBus:
    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def unsubscribe(self, subscriber: Subscriber) -> None:
        if subscriber in self._subscribers:
            self._subscribers.remove(subscriber)

    async def publish(
        self,
        tenant_id: uuid.UUID,
        type_: str,
        data: dict[str, Any] | None = None,
        *,
        id: uuid.UUID | None = None,
    ) -> PlatformEvent:
        """Hand the event to every subscriber and return it once they have all handled it.

        `id`: a publisher that may publish the same happening twice (a redelivered webhook)
        gives it a stable id, so subscribers can recognise the repeat."""
        event = PlatformEvent(tenant_id=tenant_id, type=type_, data=data or {}, id=id or new_id())
        for subscriber in list(self._subscribers):
            try:
                await subscriber(event)
            except Exception:
                log.exception("event_subscriber_failed", event_type=type_, event_id=str(event.id))
        return event
