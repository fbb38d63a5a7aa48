"""Small values a workflow keeps between its runs (the last snapshot a monitor compared with).

Tenant-scoped like every table; a key lives in its workflow's namespace unless a step asks
for the tenant-wide one, so two workflows that both say `last` do not read each other's.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import JSON, String, UniqueConstraint, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from auterity.core.database import Database
from auterity.core.models import Base, IdMixin, TimestampMixin
from auterity.core.tenancy import TenantScoped, bind_tenant

TENANT_NAMESPACE = ""
MAX_VALUE_BYTES = 256 * 1024


class StateEntry(TenantScoped, IdMixin, TimestampMixin, Base):
    __tablename__ = "workflow_state"
    __table_args__ = (UniqueConstraint("tenant_id", "namespace", "key"),)

    namespace: Mapped[str] = mapped_column(String(64))  # a workflow id, or "" tenant-wide
    key: Mapped[str] = mapped_column(String(200))
    value: Mapped[Any] = mapped_column(JSON, nullable=True)


class ValueTooLarge(ValueError):
    pass


class WorkflowState:
    """Get and set values by key for one tenant (and one workflow's namespace)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, tenant_id: uuid.UUID, namespace: str, key: str) -> tuple[bool, Any]:
        """(found, value)."""
        async with self.db.session(readonly=True) as session:
            bind_tenant(session, tenant_id)
            entry = await session.scalar(
                select(StateEntry).where(StateEntry.namespace == namespace, StateEntry.key == key)
            )
        return (False, None) if entry is None else (True, entry.value)

    async def set(
        self, tenant_id: uuid.UUID, namespace: str, key: str, value: Any
    ) -> tuple[bool, Any]:
        """Store `value`; (whether there was one before, the one before)."""
        size = len(json.dumps(value, separators=(",", ":")))
        if size > MAX_VALUE_BYTES:
            raise ValueTooLarge(f"the value is {size} bytes of JSON; at most {MAX_VALUE_BYTES}")
        for _ in range(2):  # two steps setting a new key at once: the loser updates
            try:
                async with self.db.session() as session:
                    bind_tenant(session, tenant_id)
                    entry = await session.scalar(
                        select(StateEntry).where(
                            StateEntry.namespace == namespace, StateEntry.key == key
                        )
                    )
                    if entry is None:
                        session.add(StateEntry(namespace=namespace, key=key, value=value))
                        return False, None
                    previous = entry.value
                    entry.value = value
                    return True, previous
            except IntegrityError:
                continue
        raise RuntimeError(f"state key {key!r} could not be written")  # pragma: no cover
