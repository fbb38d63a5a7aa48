"""Managing a tenant's budgets (no HTTP): store and audit; the routes drop cached rules."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from auterity.core.lookup import one_or_404
from auterity.identity import audit
from auterity.identity.principal import Principal
from auterity.relaycore.budgets.ledger import BudgetLedger
from auterity.relaycore.budgets.models import Budget
from auterity.relaycore.budgets.rules import BudgetRule
from auterity.relaycore.budgets.schemas import BudgetCreate, BudgetOut, BudgetUpdate


async def list_budgets(session: AsyncSession) -> list[Budget]:
    return list((await session.scalars(select(Budget).order_by(Budget.created_at))).all())


async def get_budget(session: AsyncSession, budget_id: uuid.UUID) -> Budget:
    return await one_or_404(
        session, select(Budget).where(Budget.id == budget_id), f"Budget {budget_id} does not exist."
    )


async def create_budget(session: AsyncSession, principal: Principal, body: BudgetCreate) -> Budget:
    row = Budget(tenant_id=principal.tenant_id, **body.model_dump())
    session.add(row)
    await session.flush()
    audit.record(
        session,
        "relay.budget.created",
        **principal.audit_actor(),
        target_type="relay_budget",
        target_id=row.id,
        details=body.model_dump(),
    )
    return row


async def update_budget(
    session: AsyncSession, principal: Principal, budget_id: uuid.UUID, body: BudgetUpdate
) -> Budget:
    row = await get_budget(session, budget_id)
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    for name, value in changes.items():
        setattr(row, name, value)
    await session.flush()
    audit.record(
        session,
        "relay.budget.updated",
        **principal.audit_actor(),
        target_type="relay_budget",
        target_id=row.id,
        details=changes,
    )
    return row


async def delete_budget(session: AsyncSession, principal: Principal, budget_id: uuid.UUID) -> None:
    row = await get_budget(session, budget_id)
    await session.delete(row)
    audit.record(
        session,
        "relay.budget.deleted",
        **principal.audit_actor(),
        target_type="relay_budget",
        target_id=budget_id,
        details={"name": row.name},
    )


async def budget_out(ledger: BudgetLedger, row: Budget) -> BudgetOut:
    spend = await ledger.spend(BudgetRule.of(row))
    return BudgetOut.model_validate(
        {
            **{name: getattr(row, name) for name in BudgetOut.model_fields if hasattr(row, name)},
            "spent_micros": spend.spent_micros,
            "reserved_micros": spend.reserved_micros,
        }
    )
