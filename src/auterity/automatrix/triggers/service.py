"""Triggers as the API manages them, and `fire`: the one way a trigger starts a run."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from auterity.automatrix import service as workflows
from auterity.automatrix.expressions import (
    ExpressionError,
    check_syntax,
    expressions_in,
    render_value,
)
from auterity.automatrix.models import Run
from auterity.automatrix.triggers.cron import Schedule, schedule_errors
from auterity.automatrix.triggers.models import Trigger, TriggerFiring
from auterity.automatrix.triggers.schemas import TriggerCreate, TriggerFields
from auterity.core.clock import utcnow
from auterity.core.crypto import Sealer, TokenHasher
from auterity.core.errors import AuterityError, FieldError, ValidationFailed
from auterity.core.lookup import one_or_404

# Fields that belong to one kind of trigger; setting them on another is an error.
KIND_FIELDS = {
    "cron": ("cron", "timezone", "starts_at", "ends_at", "misfire"),
    "webhook": ("signed", "sync_timeout_seconds", "max_body_bytes"),
    "event": ("event", "filter"),
}
TOKEN_BYTES = 32


@dataclass(frozen=True, slots=True)
class Revealed:
    """What a webhook's creator sees once: the URL token and the signing secret."""

    token: str | None = None
    signing_secret: str | None = None


def cron_schedule(trigger: Trigger) -> Schedule:
    assert trigger.cron_expression is not None and trigger.timezone is not None
    return Schedule(trigger.cron_expression, trigger.timezone, trigger.starts_at, trigger.ends_at)


def _check(trigger: Trigger, given: set[str], errors: list[FieldError]) -> None:
    """Every problem of the trigger as it would be saved, each with its JSON pointer."""
    for kind, fields in KIND_FIELDS.items():
        if kind != trigger.kind:
            errors.extend(
                FieldError(f"/{name}", f"only a {kind} trigger has {name!r}")
                for name in fields
                if name in given
            )
    if trigger.kind == "cron":
        if not trigger.cron_expression:
            errors.append(FieldError("/cron", "a cron trigger needs a cron expression"))
        else:
            errors.extend(schedule_errors(trigger.cron_expression, trigger.timezone or "UTC"))
        if trigger.starts_at and trigger.ends_at and trigger.ends_at <= trigger.starts_at:
            errors.append(FieldError("/ends_at", "ends_at must be after starts_at"))
    if trigger.kind == "event":
        if not trigger.event_type:
            errors.append(FieldError("/event", "an event trigger needs the event type"))
        if trigger.filter:
            try:
                check_syntax("{{ " + trigger.filter + " }}")
            except ExpressionError as exc:
                errors.append(FieldError("/filter", str(exc)))
    for pointer, source in expressions_in(trigger.inputs or {}, "/inputs"):
        try:
            check_syntax(source)
        except ExpressionError as exc:
            errors.append(FieldError(pointer, str(exc)))


def _apply(trigger: Trigger, fields: TriggerFields, given: set[str], sealer: Sealer) -> Revealed:
    """Copy the given fields onto the row; a newly signed webhook gets a new secret."""
    revealed = Revealed()
    simple = {
        "name": "name",
        "inputs": "inputs",
        "cron": "cron_expression",
        "timezone": "timezone",
        "starts_at": "starts_at",
        "ends_at": "ends_at",
        "misfire": "misfire_policy",
        "sync_timeout_seconds": "sync_timeout_seconds",
        "max_body_bytes": "max_body_bytes",
        "event": "event_type",
        "filter": "filter",
    }
    for field, column in simple.items():
        if field in given:
            setattr(trigger, column, getattr(fields, field))
    if trigger.kind == "webhook" and "signed" in given:
        if fields.signed and trigger.signing_secret_sealed is None:
            secret = "whsec_" + secrets.token_urlsafe(TOKEN_BYTES)
            trigger.signing_secret_sealed = sealer.seal(secret)
            revealed = Revealed(signing_secret=secret)
        elif not fields.signed:
            trigger.signing_secret_sealed = None
    if trigger.kind == "cron":
        trigger.timezone = trigger.timezone or "UTC"
        trigger.misfire_policy = trigger.misfire_policy or "skip"
    return revealed


def _reschedule(trigger: Trigger) -> None:
    """The next time from now: after creation, an edit of the schedule, or a resume."""
    if trigger.kind == "cron":
        trigger.next_fire_at = (
            cron_schedule(trigger).next_after(utcnow()) if trigger.enabled else None
        )


async def create_trigger(
    session: AsyncSession,
    body: TriggerCreate,
    hasher: TokenHasher,
    sealer: Sealer,
    created_by: uuid.UUID | None,
) -> tuple[Trigger, Revealed]:
    await workflows.get_workflow(session, body.workflow_id)  # 404 unless the tenant's
    given = set(body.model_fields_set) | {"name"}
    trigger = Trigger(
        name=body.name,
        kind=body.kind,
        workflow_id=body.workflow_id,
        enabled=body.enabled,
        created_by=created_by,
    )
    revealed = _apply(trigger, body, given, sealer)
    errors: list[FieldError] = []
    _check(trigger, given, errors)
    if errors:
        raise ValidationFailed("The trigger is not valid.", errors=errors)
    if trigger.kind == "webhook":
        token = secrets.token_urlsafe(TOKEN_BYTES)
        trigger.token_hash = hasher.digest(token)
        revealed = Revealed(token=token, signing_secret=revealed.signing_secret)
    _reschedule(trigger)
    session.add(trigger)
    await session.flush()
    return trigger, revealed


async def update_trigger(
    session: AsyncSession, trigger: Trigger, body: TriggerFields, sealer: Sealer
) -> Revealed:
    given = set(body.model_fields_set)
    nulls = [name for name in ("name", "cron", "timezone", "event") if name in given]
    errors = [
        FieldError(f"/{name}", f"{name!r} cannot be null")
        for name in nulls
        if getattr(body, name) is None
    ]
    revealed = _apply(trigger, body, given, sealer)
    _check(trigger, given, errors)
    if errors:
        raise ValidationFailed("The trigger is not valid.", errors=errors)
    if given & {"cron", "timezone", "starts_at", "ends_at"}:
        _reschedule(trigger)
    return revealed


def set_enabled(trigger: Trigger, enabled: bool) -> None:
    """Pause or resume. A resumed cron trigger continues from now: the paused time is not a
    misfire to catch up on."""
    if trigger.enabled != enabled:
        trigger.enabled = enabled
        _reschedule(trigger)


async def get_trigger(session: AsyncSession, trigger_id: uuid.UUID) -> Trigger:
    return await one_or_404(
        session,
        select(Trigger).where(Trigger.id == trigger_id),
        f"Trigger {trigger_id} does not exist.",
    )


def _problem(exc: AuterityError) -> dict[str, Any]:
    error: dict[str, Any] = {"kind": exc.slug, "message": exc.detail}
    if exc.errors:
        error["errors"] = [e.as_dict() for e in exc.errors]
    return error


async def fire(
    session: AsyncSession,
    trigger: Trigger,
    context: dict[str, Any],
    *,
    default_inputs: dict[str, Any] | None = None,
    scheduled_at: datetime | None = None,
    idempotency_key: str | None = None,
    source: dict[str, Any] | None = None,
    failure: dict[str, Any] | None = None,
) -> tuple[TriggerFiring, Run | None]:
    """Start the trigger's workflow with inputs rendered from `context`, and record the firing.

    Runs in the caller's transaction, so the firing and its run commit together. The firing
    row is written first: for cron it claims `scheduled_at`, and a process that lost the
    claim gets the IntegrityError before it starts anything. A run that could not start
    (inputs not rendering or not matching the workflow's schema, workflow gone) is a
    `failed` firing with the problem, not an exception; so is a given `failure`.
    """
    context = {**context, "trigger": {"id": str(trigger.id), "name": trigger.name}}
    firing = TriggerFiring(
        tenant_id=trigger.tenant_id,
        trigger_id=trigger.id,
        scheduled_at=scheduled_at,
        outcome="started",
        source=source,
        fired_at=utcnow(),
    )
    session.add(firing)
    await session.flush()
    run: Run | None = None
    if failure is not None:
        firing.outcome, firing.error = "failed", failure
    else:
        try:
            run, created = await _start(session, trigger, context, default_inputs, idempotency_key)
            firing.run_id = run.id
            if not created:
                firing.outcome = "duplicate"  # the same idempotency key: that earlier run
        except ExpressionError as exc:
            firing.outcome = "failed"
            firing.error = {"kind": "inputs", "message": f"inputs: {exc}"}
        except AuterityError as exc:
            firing.outcome = "failed"
            firing.error = _problem(exc)
    trigger.last_fired_at = firing.fired_at
    await session.flush()
    return firing, run


async def _start(
    session: AsyncSession,
    trigger: Trigger,
    context: dict[str, Any],
    default_inputs: dict[str, Any] | None,
    idempotency_key: str | None,
) -> tuple[Run, bool]:
    if trigger.inputs is None:
        inputs = default_inputs or {}
    else:
        inputs = render_value(trigger.inputs, context)
    workflow = await workflows.get_workflow(session, trigger.workflow_id)
    return await workflows.start_run(
        session,
        workflow,
        inputs,
        version=None,
        idempotency_key=idempotency_key,
        created_by=trigger.created_by,
    )
