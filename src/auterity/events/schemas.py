"""API shapes of platform events: events with their deliveries, dead letters, replays."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import Field

from auterity.core.schemas import ResponseModel


class DeliveryOut(ResponseModel):
    subscriber: str
    status: str = Field(description="pending, delivered or dead")
    attempts: int
    next_attempt_at: datetime | None = Field(description="When a pending delivery is tried.")
    last_error: str | None
    delivered_at: datetime | None


class EventOut(ResponseModel):
    id: uuid.UUID
    type: str
    data: dict[str, Any]
    occurred_at: datetime
    deliveries: list[DeliveryOut]


class EventPage(ResponseModel):
    items: list[EventOut]
    next_cursor: str | None


class DeadLetterOut(DeliveryOut):
    id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    occurred_at: datetime


class DeadLetterPage(ResponseModel):
    items: list[DeadLetterOut]
    next_cursor: str | None


class ReplayOut(ResponseModel):
    event_id: uuid.UUID
    subscribers: list[str] = Field(description="The subscribers it is delivered to again.")
