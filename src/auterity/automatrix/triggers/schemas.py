"""Request and response shapes of the triggers API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, Field

from auterity.core.schemas import ResponseModel, StrictModel

Kind = Literal["cron", "webhook", "event"]
Misfire = Literal["skip", "run_once"]
INPUTS_HELP = (
    "Run inputs: input name -> value or expression. Cron sees `scheduled_at` and `trigger`; "
    "a webhook `body`, `query`, `headers` and `trigger`; an event trigger `event` and `trigger`. "
    "Leave out to pass the webhook's JSON body or the event's data as the inputs."
)


class TriggerFields(StrictModel):
    """What PATCH may change (every field optional); creation adds the kind and the workflow."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    inputs: dict[str, Any] | None = Field(default=None, description=INPUTS_HELP)
    cron: str | None = Field(default=None, max_length=200, description="Cron: the expression.")
    timezone: str | None = Field(
        default=None, max_length=64, description="Cron: IANA time zone the expression reads in."
    )
    starts_at: AwareDatetime | None = Field(default=None, description="Cron: no firing before.")
    ends_at: AwareDatetime | None = Field(default=None, description="Cron: no firing after.")
    misfire: Misfire | None = Field(
        default=None,
        description="Cron: times missed while no scheduler ran are skipped, or fired once.",
    )
    signed: bool | None = Field(
        default=None,
        description="Webhook: require an `X-Auterity-Signature` (HMAC-SHA256) on every call.",
    )
    sync_timeout_seconds: float | None = Field(
        default=None,
        ge=0,
        le=300,
        description="Webhook: wait up to this long for the run's outputs (0: answer 202 at once).",
    )
    max_body_bytes: int | None = Field(
        default=None, ge=1, description="Webhook: refuse larger bodies (below the server limit)."
    )
    event: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Event: the event type, e.g. `run.succeeded` or a custom `lead.created`.",
    )
    filter: str | None = Field(
        default=None,
        max_length=4000,
        description="Event: fire only when this expression over `event` is true.",
    )


class TriggerCreate(TriggerFields):
    name: str = Field(min_length=1, max_length=200)
    kind: Kind
    workflow_id: uuid.UUID
    enabled: bool = True


class TriggerOut(ResponseModel):
    id: uuid.UUID
    name: str
    kind: str
    workflow_id: uuid.UUID
    enabled: bool
    inputs: dict[str, Any] | None = None
    cron: str | None = None
    timezone: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    misfire: str | None = None
    next_fire_at: datetime | None = None
    signed: bool | None = None
    sync_timeout_seconds: float | None = None
    max_body_bytes: int | None = None
    event: str | None = None
    filter: str | None = None
    last_fired_at: datetime | None = None
    created_at: datetime
    updated_at: datetime
    # Shown once, in the answer to the creation: keep them, they cannot be read again.
    url: str | None = Field(default=None, description="Webhook: the URL to call (shown once).")
    signing_secret: str | None = Field(
        default=None, description="Webhook: the HMAC-SHA256 key (shown once)."
    )

    @classmethod
    def from_row(cls, row: Any) -> TriggerOut:
        return cls(
            id=row.id, name=row.name, kind=row.kind, workflow_id=row.workflow_id,
            enabled=row.enabled, inputs=row.inputs, cron=row.cron_expression,
            timezone=row.timezone, starts_at=row.starts_at, ends_at=row.ends_at,
            misfire=row.misfire_policy, next_fire_at=row.next_fire_at,
            signed=(row.signing_secret_sealed is not None) if row.kind == "webhook" else None,
            sync_timeout_seconds=row.sync_timeout_seconds, max_body_bytes=row.max_body_bytes,
            event=row.event_type, filter=row.filter, last_fired_at=row.last_fired_at,
            created_at=row.created_at, updated_at=row.updated_at,
        )  # fmt: skip


class TriggerPage(ResponseModel):
    items: list[TriggerOut]
    next_cursor: str | None


class FiringOut(ResponseModel):
    id: uuid.UUID
    fired_at: datetime
    scheduled_at: datetime | None
    run_id: uuid.UUID | None
    outcome: str
    error: dict[str, Any] | None
    source: dict[str, Any] | None


class FiringPage(ResponseModel):
    items: list[FiringOut]
    next_cursor: str | None


class EventIn(StrictModel):
    type: str = Field(
        min_length=1,
        max_length=200,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="The event type; `run.*` is reserved for the engine's own events.",
    )
    data: dict[str, Any] = Field(default_factory=dict)


class EventOut(ResponseModel):
    id: uuid.UUID
    type: str
    at: datetime


class HookAccepted(ResponseModel):
    run_id: uuid.UUID
    status: str
    outputs: Any = None
