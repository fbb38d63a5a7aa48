"""Tenant scoping, in one place: a session bound to a tenant can only see and write its rows.

Every table that belongs to a tenant mixes in `TenantScoped`. When a session carries a
tenant (`session.info["tenant_id"]`), every ORM SELECT/UPDATE/DELETE it runs gets
`tenant_id = :tenant` added to each scoped entity (including joins and relationship loads),
and every new scoped row is stamped with that tenant; writing a row of another tenant fails.
Routes get such a session from the principal dependency, so no query can forget the scope.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ForeignKey, event
from sqlalchemy.orm import (
    Mapped,
    ORMExecuteState,
    Session,
    declared_attr,
    mapped_column,
    with_loader_criteria,
)

TENANT_KEY = "tenant_id"
UNSCOPED_KEY = "unscoped"


class CrossTenantWrite(RuntimeError):
    """A tenant-bound session tried to write a row of another tenant (a bug, never user input)."""


class TenantScoped:
    """Mixin for tenant-owned tables."""

    @declared_attr
    def tenant_id(cls) -> Mapped[uuid.UUID]:
        return mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)


def bind_tenant(session: Session | Any, tenant_id: uuid.UUID) -> None:
    """Scope `session` (sync or async) to one tenant from now on."""
    target = getattr(session, "sync_session", session)
    target.info[TENANT_KEY] = tenant_id


def session_tenant(session: Session | Any) -> uuid.UUID | None:
    target = getattr(session, "sync_session", session)
    value: uuid.UUID | None = target.info.get(TENANT_KEY)
    return value


@event.listens_for(Session, "do_orm_execute")
def _scope_queries(state: ORMExecuteState) -> None:
    tenant_id = state.session.info.get(TENANT_KEY)
    if tenant_id is None or state.execution_options.get(UNSCOPED_KEY):
        return
    if state.is_select or state.is_update or state.is_delete:
        state.statement = state.statement.options(
            with_loader_criteria(
                TenantScoped,
                lambda cls: cls.tenant_id == tenant_id,
                include_aliases=True,
            )
        )


@event.listens_for(Session, "before_flush")
def _stamp_writes(session: Session, flush_context: Any, instances: Any) -> None:
    tenant_id = session.info.get(TENANT_KEY)
    if tenant_id is None:
        return
    for obj in session.new:
        if isinstance(obj, TenantScoped):
            if obj.tenant_id is None:
                obj.tenant_id = tenant_id
            elif obj.tenant_id != tenant_id:
                raise CrossTenantWrite(f"{type(obj).__name__} of another tenant added")
    for obj in session.dirty:
        if isinstance(obj, TenantScoped) and obj.tenant_id != tenant_id:
            raise CrossTenantWrite(f"{type(obj).__name__} of another tenant modified")
