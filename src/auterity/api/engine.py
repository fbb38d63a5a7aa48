"""Wires the workflow engine to this process's database, secret store, outbound HTTP, event
bus and triggers."""

from __future__ import annotations

import uuid

from auterity.automatrix.actions.registry import ActionRegistry
from auterity.automatrix.engine import Engine
from auterity.automatrix.triggers.events import EventTriggers
from auterity.automatrix.triggers.scheduler import TriggerScheduler
from auterity.core.errors import NotFound
from auterity.core.runtime import Runtime
from auterity.events import EventBus
from auterity.integrations.http import OutboundHttp
from auterity.secrets import SecretService


def build_engine(
    runtime: Runtime,
    actions: ActionRegistry,
    secrets: SecretService,
    events: EventBus | None = None,
) -> Engine:
    async def lookup(tenant_id: uuid.UUID, name: str) -> str | None:
        try:
            return await secrets.resolve_secret(tenant_id, name, on_behalf_of="workflow")
        except NotFound:
            return None

    settings = runtime.settings
    return Engine(
        runtime.db,
        actions,
        secrets=lookup,
        lease_seconds=settings.engine_lease_seconds,
        poll_interval=settings.engine_poll_seconds,
        inline_output_bytes=settings.step_output_inline_bytes,
        http=OutboundHttp.from_settings(settings),
        events=events,
    )


def build_triggers(runtime: Runtime, engine: Engine, events: EventBus) -> TriggerScheduler:
    """Subscribe event triggers to the bus; the cron scheduler, for the app to start."""
    events.subscribe(EventTriggers(runtime.db, wake=engine.wake))
    return TriggerScheduler(
        runtime.db,
        wake=engine.wake,
        poll_interval=runtime.settings.trigger_poll_seconds,
        misfire_grace=runtime.settings.trigger_misfire_grace_seconds,
    )
