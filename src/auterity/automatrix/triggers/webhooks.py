"""Inbound webhooks: find the trigger by its URL token, check size and signature, fire it.

The token in `/api/hooks/{token}` is the credential: only its keyed digest is stored, so it
is looked up across tenants by digest (the caller has no tenant yet) and everything after
runs in the trigger's tenant.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from auterity.automatrix.models import Run
from auterity.automatrix.triggers.models import Trigger, TriggerFiring
from auterity.automatrix.triggers.service import fire
from auterity.automatrix.triggers.signatures import (
    SIGNATURE_HEADER,
    ReplayGuard,
    refuse_replay,
    verify_signature,
)
from auterity.core.clock import utcnow
from auterity.core.crypto import Sealer, TokenHasher
from auterity.core.database import Database
from auterity.core.errors import BadRequest, Conflict, NotFound, PayloadTooLarge
from auterity.core.tenancy import bind_tenant

# Credentials and the signature itself never reach a workflow's inputs.
HIDDEN_HEADERS = frozenset({"authorization", "cookie", "x-api-key", SIGNATURE_HEADER.lower()})


@dataclass(frozen=True, slots=True)
class Delivery:
    """One inbound call, as the route read it."""

    token: str
    body: bytes
    content_type: str | None
    query: dict[str, str]
    headers: dict[str, str]
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class Fired:
    trigger: Trigger
    firing: TriggerFiring
    run: Run | None


async def find_by_token(db: Database, hasher: TokenHasher, token: str) -> Trigger:
    async with db.session(readonly=True) as session:
        trigger = (
            await session.execute(
                select(Trigger).where(
                    Trigger.kind == "webhook", Trigger.token_hash.in_(hasher.candidates(token))
                )
            )
        ).scalar_one_or_none()
    if trigger is None:
        raise NotFound("No webhook has this URL.")
    return trigger


def _parse_body(delivery: Delivery) -> Any:
    if not delivery.body:
        return None
    if delivery.content_type is None or "json" in delivery.content_type:
        try:
            return json.loads(delivery.body)
        except ValueError as exc:
            if delivery.content_type is not None:
                raise BadRequest(f"The body is not valid JSON: {exc}") from None
    return delivery.body.decode("utf-8", errors="replace")


async def receive(
    db: Database,
    hasher: TokenHasher,
    sealer: Sealer,
    replay: ReplayGuard,
    delivery: Delivery,
    tolerance: timedelta,
) -> Fired:
    """Check the delivery and fire the trigger; nothing runs unless every check passes."""
    trigger = await find_by_token(db, hasher, delivery.token)
    if trigger.max_body_bytes is not None and len(delivery.body) > trigger.max_body_bytes:
        raise PayloadTooLarge(
            f"The body is over this webhook's limit of {trigger.max_body_bytes} bytes."
        )
    if trigger.signing_secret_sealed is not None:
        signature = verify_signature(
            delivery.headers.get(SIGNATURE_HEADER.lower()),
            sealer.open_text(trigger.signing_secret_sealed),
            delivery.body,
            utcnow(),
            tolerance,
        )
        # Remembered for twice the tolerance: a timestamp up to `tolerance` ahead of the clock
        # still passes the check until `tolerance` after it.
        if not await replay.first_use(trigger.tenant_id, trigger.id, signature, tolerance * 2):
            raise refuse_replay()
    if not trigger.enabled:
        raise Conflict("This webhook's trigger is paused; nothing was run.")
    body = _parse_body(delivery)
    headers = {k: v for k, v in delivery.headers.items() if k not in HIDDEN_HEADERS}
    key = f"hook:{trigger.id}:{delivery.idempotency_key}" if delivery.idempotency_key else None
    async with db.session() as session:
        bind_tenant(session, trigger.tenant_id)
        current = (
            await session.execute(select(Trigger).where(Trigger.id == trigger.id))
        ).scalar_one()
        firing, run = await fire(
            session,
            current,
            {"body": body, "query": delivery.query, "headers": headers},
            default_inputs=body if isinstance(body, dict) else None,
            idempotency_key=key,
            source={"bytes": len(delivery.body), "content_type": delivery.content_type},
        )
    return Fired(current, firing, run)
