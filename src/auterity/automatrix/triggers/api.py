"""Trigger routes: manage triggers and their history, receive webhooks, publish events."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import select

from auterity.automatrix import service as workflows
from auterity.automatrix.api import Reader, Runner, Writer, engine_of
from auterity.automatrix.triggers import service, webhooks
from auterity.automatrix.triggers.models import Trigger, TriggerFiring
from auterity.automatrix.triggers.schemas import (
    EventIn,
    EventOut,
    FiringOut,
    FiringPage,
    HookAccepted,
    Kind,
    TriggerCreate,
    TriggerFields,
    TriggerOut,
    TriggerPage,
)
from auterity.automatrix.triggers.signatures import build_replay_guard
from auterity.core.deps import runtime_of
from auterity.core.errors import FieldError, ValidationFailed
from auterity.core.pagination import keyset_page
from auterity.events import EventBus
from auterity.identity.deps import TenantSession

triggers = APIRouter(prefix="/api/triggers", tags=["triggers"])
hooks = APIRouter(prefix="/api/hooks", tags=["triggers"])
platform_events = APIRouter(prefix="/api/events", tags=["triggers"])


def _shown(trigger: Trigger, revealed: service.Revealed) -> TriggerOut:
    out = TriggerOut.from_row(trigger)
    if revealed.token:
        out.url = f"/api/hooks/{revealed.token}"
    out.signing_secret = revealed.signing_secret
    return out


@triggers.post("", status_code=201, response_model=TriggerOut)
async def create_trigger(
    body: TriggerCreate,
    request: Request,
    response: Response,
    principal: Writer,
    session: TenantSession,
) -> TriggerOut:
    """A cron, webhook or event trigger for a workflow. A webhook's URL and signing secret
    are in this answer only: keep them."""
    runtime = runtime_of(request)
    trigger, revealed = await service.create_trigger(
        session, body, runtime.hasher, runtime.sealer, principal.user_id
    )
    response.headers["Location"] = f"/api/triggers/{trigger.id}"
    return _shown(trigger, revealed)


@triggers.get("", response_model=TriggerPage)
async def list_triggers(
    principal: Reader,
    session: TenantSession,
    workflow_id: uuid.UUID | None = None,
    kind: Kind | None = None,
    cursor: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> TriggerPage:
    query = select(Trigger)
    if workflow_id:
        query = query.where(Trigger.workflow_id == workflow_id)
    if kind:
        query = query.where(Trigger.kind == kind)
    rows, next_cursor = await keyset_page(session, query, Trigger.id, cursor, limit)
    return TriggerPage(items=[TriggerOut.from_row(t) for t in rows], next_cursor=next_cursor)


@triggers.get("/{trigger_id}", response_model=TriggerOut)
async def get_trigger(
    trigger_id: uuid.UUID, principal: Reader, session: TenantSession
) -> TriggerOut:
    return TriggerOut.from_row(await service.get_trigger(session, trigger_id))


@triggers.patch("/{trigger_id}", response_model=TriggerOut)
async def update_trigger(
    trigger_id: uuid.UUID,
    body: TriggerFields,
    request: Request,
    principal: Writer,
    session: TenantSession,
) -> TriggerOut:
    """Change the given fields; turning `signed` on answers the new signing secret once."""
    trigger = await service.get_trigger(session, trigger_id)
    revealed = await service.update_trigger(session, trigger, body, runtime_of(request).sealer)
    await session.flush()
    return _shown(trigger, revealed)


@triggers.delete("/{trigger_id}", status_code=204)
async def delete_trigger(
    trigger_id: uuid.UUID, principal: Writer, session: TenantSession
) -> Response:
    await session.delete(await service.get_trigger(session, trigger_id))
    return Response(status_code=204)


async def _set_enabled(session: TenantSession, trigger_id: uuid.UUID, enabled: bool) -> TriggerOut:
    trigger = await service.get_trigger(session, trigger_id)
    service.set_enabled(trigger, enabled)
    await session.flush()
    return TriggerOut.from_row(trigger)


@triggers.post("/{trigger_id}/pause", response_model=TriggerOut)
async def pause_trigger(
    trigger_id: uuid.UUID, principal: Writer, session: TenantSession
) -> TriggerOut:
    """Stop firing until resumed (a paused webhook answers 409 and runs nothing)."""
    return await _set_enabled(session, trigger_id, False)


@triggers.post("/{trigger_id}/resume", response_model=TriggerOut)
async def resume_trigger(
    trigger_id: uuid.UUID, principal: Writer, session: TenantSession
) -> TriggerOut:
    """Fire again; a cron trigger continues with its next time from now."""
    return await _set_enabled(session, trigger_id, True)


@triggers.get("/{trigger_id}/firings", response_model=FiringPage)
async def list_firings(
    trigger_id: uuid.UUID,
    principal: Reader,
    session: TenantSession,
    cursor: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> FiringPage:
    """The trigger's history, newest first: when, for which scheduled time, which run, how."""
    await service.get_trigger(session, trigger_id)
    query = select(TriggerFiring).where(TriggerFiring.trigger_id == trigger_id)
    rows, next_cursor = await keyset_page(session, query, TriggerFiring.id, cursor, limit)
    return FiringPage(items=[FiringOut.model_validate(f) for f in rows], next_cursor=next_cursor)


@hooks.post("/{token}", status_code=202, response_model=HookAccepted)
async def receive_webhook(
    token: str,
    request: Request,
    idempotency_key: Annotated[str | None, Header(max_length=150)] = None,
) -> Any:
    """Start the webhook's workflow. No login: the URL's token is the credential, and a
    signed webhook also checks `X-Auterity-Signature`. Answers 202 with the run id, or, for a
    webhook with a sync timeout, 200 with the run's outputs when it ends in time."""
    runtime = runtime_of(request)
    engine = engine_of(request)
    settings = runtime.settings
    delivery = webhooks.Delivery(
        token=token,
        body=await request.body(),
        content_type=request.headers.get("content-type"),
        query=dict(request.query_params),
        headers={k.lower(): v for k, v in request.headers.items()},
        idempotency_key=idempotency_key,
    )
    fired = await webhooks.receive(
        runtime.db,
        runtime.hasher,
        runtime.sealer,
        build_replay_guard(runtime.db, runtime.redis),
        delivery,
        timedelta(seconds=settings.webhook_signature_tolerance_seconds),
    )
    run = fired.run
    if run is None:
        error = fired.firing.error or {}
        raise ValidationFailed(
            f"The webhook fired but its run could not start: {error.get('message')}",
            extra={"firing_id": str(fired.firing.id)},
        )
    engine.wake(run.id)
    headers = {"Location": f"/api/runs/{run.id}"}
    timeout = fired.trigger.sync_timeout_seconds or 0
    if timeout > 0:
        try:
            status = await engine.wait_for(run.id, timeout)
        except TimeoutError:
            status = None
        if status is not None:
            async with runtime.db.session(readonly=True) as session:
                row = await workflows.get_run(session, run.id)
            body = HookAccepted(run_id=run.id, status=row.status, outputs=row.outputs)
            return JSONResponse(body.model_dump(mode="json"), status_code=200, headers=headers)
    body = HookAccepted(run_id=run.id, status=run.status)
    return JSONResponse(body.model_dump(mode="json"), status_code=202, headers=headers)


@platform_events.post("", status_code=202, response_model=EventOut)
async def publish_event(body: EventIn, request: Request, principal: Runner) -> EventOut:
    """Publish a custom event in your tenant: answered once it is stored; the event triggers
    waiting for its type fire a moment later (at least once, see `GET /api/events/{id}`)."""
    if body.type.startswith("run."):
        raise ValidationFailed(
            "`run.*` events are the engine's own; choose another type.",
            errors=[FieldError("/type", "reserved prefix 'run.'")],
        )
    bus: EventBus = request.app.state.events
    event = await bus.publish(principal.tenant_id, body.type, body.data)
    return EventOut(id=event.id, type=event.type, at=event.at)


routers = (triggers, hooks, platform_events)
