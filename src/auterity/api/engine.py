"""Wires the workflow engine to this process's database, secret store, outbound HTTP, event
bus and triggers."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Literal

import httpx

from auterity.automatrix.actions.registry import ActionRegistry
from auterity.automatrix.engine import Engine
from auterity.automatrix.executors.base import Executor
from auterity.automatrix.limits import ConcurrencyLimits
from auterity.automatrix.triggers.events import EventTriggers
from auterity.automatrix.triggers.scheduler import TriggerScheduler
from auterity.core.errors import NotFound
from auterity.core.runtime import Runtime
from auterity.core.settings import Settings
from auterity.events import EventBus
from auterity.identity import tenant_settings
from auterity.identity.tenant_settings import TenantSettings
from auterity.integrations.http import OutboundHttp, tenant_policies
from auterity.integrations.messaging import Messaging
from auterity.relaycore.client import HttpRelayClient, RelayCallError, RelayClient
from auterity.secrets import SecretService


def build_engine(
    runtime: Runtime,
    actions: ActionRegistry,
    secrets: SecretService,
    events: EventBus | None = None,
    *,
    executor: Literal["local", "celery"] | None = None,
    llm: RelayClient | None = None,
) -> Engine:
    """The engine; its steps run where `executor` (default: the settings) says. A Celery
    worker builds one with `executor="local"`: the attempts it is sent run in it."""

    async def lookup(tenant_id: uuid.UUID, name: str) -> str | None:
        try:
            return await secrets.resolve_secret(tenant_id, name, on_behalf_of="workflow")
        except NotFound:
            return None

    async def policy(tenant_id: uuid.UUID) -> TenantSettings:
        return await tenant_settings.load(runtime.db, runtime.cache, tenant_id)

    settings = runtime.settings
    chosen = executor or settings.executor
    http = OutboundHttp.from_settings(
        settings, tenant_policies=tenant_policies(runtime.db, runtime.cache)
    )
    return Engine(
        runtime.db,
        actions,
        secrets=lookup,
        lease_seconds=settings.engine_lease_seconds,
        poll_interval=settings.engine_poll_seconds,
        inline_output_bytes=settings.step_output_inline_bytes,
        http=http,
        messaging=Messaging.from_settings(settings, http),
        limits=ConcurrencyLimits.from_settings(runtime.db, runtime.cache),
        tenant_settings=policy,
        executor=_celery(settings) if chosen == "celery" else None,
        llm=llm or _relay_over_http(settings, secrets),
        events=events,
    )


def build_triggers(runtime: Runtime, engine: Engine, events: EventBus) -> TriggerScheduler:
    """Subscribe event triggers to the bus; the cron scheduler, for the app to start."""
    events.subscribe("triggers", EventTriggers(runtime.db, wake=engine.wake))
    return TriggerScheduler(
        runtime.db,
        wake=engine.wake,
        poll_interval=runtime.settings.trigger_poll_seconds,
        misfire_grace=runtime.settings.trigger_misfire_grace_seconds,
    )


def _relay_over_http(settings: Settings, secrets: SecretService) -> RelayClient | None:
    """RelayCore served apart (`AUTERITY_RELAY_URL`), called with each tenant's own key."""
    if not settings.relay_url:
        return None

    async def key_for(tenant_id: uuid.UUID) -> str:
        name = settings.relay_api_key_secret
        try:
            return await secrets.resolve_secret(tenant_id, name, on_behalf_of="workflow")
        except NotFound:
            raise RelayCallError(
                401,
                f"store this tenant's RelayCore API key as the secret {name} "
                "(RelayCore runs apart from this engine)",
            ) from None

    return HttpRelayClient(
        settings.relay_url,
        key_for,
        httpx.AsyncClient(timeout=httpx.Timeout(settings.relay_timeout_seconds, connect=10.0)),
    )


def _celery(settings: Settings) -> Callable[[str], Executor]:
    def make(owner: str) -> Executor:
        # Imported here: a process with the local executor never loads Celery.
        from auterity.automatrix.executors.celery import CeleryExecutor

        return CeleryExecutor(settings, owner)

    return make
