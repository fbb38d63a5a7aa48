"""What a subscriber is handed: one platform event, and the subscriber's signature."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from auterity.core.clock import utcnow
from auterity.core.ids import new_id


@dataclass(frozen=True, slots=True)
class PlatformEvent:
    """Something that happened in one tenant: `type` names it (`run.succeeded`), `data` says it.

    `id` is stable across redeliveries: a subscriber that must act once per event keys its
    effect by it (event triggers start runs with idempotency key `event:{trigger}:{id}`)."""

    tenant_id: uuid.UUID
    type: str
    data: dict[str, Any]
    id: uuid.UUID = field(default_factory=new_id)
    at: datetime = field(default_factory=utcnow)

    def as_dict(self) -> dict[str, Any]:
        return {"id": str(self.id), "type": self.type, "data": self.data, "at": self.at.isoformat()}


# Raising means "not delivered": the delivery is tried again later, and dead after too many.
Subscriber = Callable[[PlatformEvent], Awaitable[None]]
