"""Webhook signatures: `X-Auterity-Signature: t=<unix seconds>,v1=<hex>`, where the hex is
HMAC-SHA256 under the trigger's signing secret of `<t>.<raw body>`.

The timestamp must be within the tolerance of this server's clock, and a signature is
accepted once: a `ReplayGuard` remembers it for as long as the tolerance would accept it
(in Redis when configured, else in the database), so a captured request cannot be resent.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from datetime import datetime, timedelta
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from auterity.automatrix.triggers.models import WebhookSignature
from auterity.core.clock import utcnow
from auterity.core.database import Database
from auterity.core.errors import ServiceUnavailable, Unauthenticated
from auterity.core.tenancy import bind_tenant

SIGNATURE_HEADER = "X-Auterity-Signature"
_CHALLENGE = {"WWW-Authenticate": f'HMAC-SHA256 header="{SIGNATURE_HEADER}"'}


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The header value a sender computes (documented for clients; the tests sign with it)."""
    return f"t={timestamp},v1={_digest(secret, timestamp, body)}"


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def _refuse(detail: str) -> Unauthenticated:
    return Unauthenticated(detail, headers=dict(_CHALLENGE))


def verify_signature(
    header: str | None, secret: str, body: bytes, now: datetime, tolerance: timedelta
) -> str:
    """The matching signature (to remember against replay); Unauthenticated when none is."""
    if not header:
        raise _refuse(f"This webhook needs an {SIGNATURE_HEADER} header.")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1" and value:
            candidates.append(value.lower())
    if timestamp is None or not candidates:
        raise _refuse(f"{SIGNATURE_HEADER} must read t=<unix seconds>,v1=<hex>.")
    if abs(now.timestamp() - timestamp) > tolerance.total_seconds():
        raise _refuse(
            f"The signature's timestamp is more than {int(tolerance.total_seconds())} seconds "
            "from the server's time; sign each request when you send it."
        )
    expected = _digest(secret, timestamp, body)
    for candidate in candidates:
        if hmac.compare_digest(candidate, expected):
            return expected
    raise _refuse("The signature does not match the body.")


class ReplayGuard(Protocol):
    async def first_use(
        self, tenant_id: uuid.UUID, trigger_id: uuid.UUID, signature: str, ttl: timedelta
    ) -> bool:
        """Remember the signature for `ttl`; False when it was already remembered."""
        ...


def refuse_replay() -> Unauthenticated:
    return _refuse("This signature was already used; sign each request anew.")


class RedisReplayGuard:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def first_use(
        self, tenant_id: uuid.UUID, trigger_id: uuid.UUID, signature: str, ttl: timedelta
    ) -> bool:
        key = f"auterity:webhook-signature:{trigger_id}:{signature}"
        try:
            stored = await self.redis.set(key, b"1", nx=True, px=int(ttl.total_seconds() * 1000))
        except RedisError as exc:
            raise ServiceUnavailable("The replay store did not answer; retry shortly.") from exc
        return bool(stored)


class DatabaseReplayGuard:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def first_use(
        self, tenant_id: uuid.UUID, trigger_id: uuid.UUID, signature: str, ttl: timedelta
    ) -> bool:
        now = utcnow()
        try:
            async with self.db.session() as session:
                bind_tenant(session, tenant_id)
                # Forget what no longer passes the timestamp check anyway.
                await session.execute(
                    delete(WebhookSignature).where(
                        WebhookSignature.trigger_id == trigger_id,
                        WebhookSignature.expires_at < now,
                    )
                )
                session.add(
                    WebhookSignature(
                        trigger_id=trigger_id, signature=signature, expires_at=now + ttl
                    )
                )
        except IntegrityError:
            return False
        return True


def build_replay_guard(db: Database, redis: Redis | None) -> ReplayGuard:
    """Redis when the deployment has one (shared by every process), else the database."""
    return RedisReplayGuard(redis) if redis is not None else DatabaseReplayGuard(db)
