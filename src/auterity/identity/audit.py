"""The audit log: append-only records of security-relevant actions."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from auterity.core.database import Database
from auterity.core.metrics import counter
from auterity.core.request_context import current_client
from auterity.identity.models import AuditEvent

AUDIT_EVENTS = counter("audit_events_total", "Audit events written", ("action", "outcome"))


def _event(
    action: str,
    outcome: str,
    *,
    tenant_id: uuid.UUID | None,
    actor_user_id: uuid.UUID | None,
    actor_api_key_id: uuid.UUID | None,
    actor_label: str | None,
    target_type: str | None,
    target_id: object | None,
    details: dict[str, Any] | None,
) -> AuditEvent:
    client = current_client()
    AUDIT_EVENTS.labels(action, outcome).inc()
    return AuditEvent(
        tenant_id=tenant_id,
        actor_user_id=actor_user_id,
        actor_api_key_id=actor_api_key_id,
        actor_label=actor_label,
        action=action,
        outcome=outcome,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        ip=client.ip,
        user_agent=client.user_agent,
        details=details or {},
    )


def record(
    session: AsyncSession,
    action: str,
    outcome: str = "success",
    *,
    tenant_id: uuid.UUID | None = None,
    actor_user_id: uuid.UUID | None = None,
    actor_api_key_id: uuid.UUID | None = None,
    actor_label: str | None = None,
    target_type: str | None = None,
    target_id: object | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Add an audit event to `session`: it commits (or not) with the change it describes."""
    session.add(
        _event(
            action, outcome, tenant_id=tenant_id, actor_user_id=actor_user_id,
            actor_api_key_id=actor_api_key_id, actor_label=actor_label,
            target_type=target_type, target_id=target_id, details=details,
        )
    )  # fmt: skip


async def record_now(db: Database, action: str, outcome: str = "failure", **fields: Any) -> None:
    """Write an audit event in its own transaction: for failures whose request rolls back.

    Call it before the request's unit of work has written, or after rolling it back: on SQLite
    a second writer waits for the first, and here the first is the caller's own request.
    """
    async with db.session() as session:
        record(session, action, outcome, **fields)
