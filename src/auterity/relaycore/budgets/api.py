"""Routes under `/api/relay/budgets`: a tenant's spending limits and where they stand."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from auterity.identity.deps import TenantSession, require
from auterity.identity.permissions import Permission
from auterity.identity.principal import Principal
from auterity.relaycore.budgets import service
from auterity.relaycore.budgets.ledger import BudgetLedger
from auterity.relaycore.budgets.schemas import BudgetCreate, BudgetOut, BudgetUpdate

router = APIRouter(prefix="/api/relay/budgets", tags=["relay budgets"])
RelayAdmin = Annotated[Principal, require(Permission.RELAY_ADMIN)]


async def get_ledger(request: Request) -> BudgetLedger:
    ledger: BudgetLedger = request.app.state.relay_accounting.ledger
    return ledger


Ledger = Annotated[BudgetLedger, Depends(get_ledger)]


async def _committed(session: AsyncSession, ledger: BudgetLedger, principal: Principal) -> None:
    # Commit before invalidating, so no request re-caches the old rules in between.
    await session.commit()
    await ledger.rules.invalidate(principal.tenant_id)


@router.get("", response_model=list[BudgetOut])
async def list_budgets(
    principal: RelayAdmin, session: TenantSession, ledger: Ledger
) -> list[BudgetOut]:
    """This tenant's budgets with what is spent and reserved in each one's current period."""
    return [await service.budget_out(ledger, row) for row in await service.list_budgets(session)]


@router.post("", status_code=201, response_model=BudgetOut)
async def create_budget(
    body: BudgetCreate, principal: RelayAdmin, session: TenantSession, ledger: Ledger
) -> BudgetOut:
    """Add a budget; it applies to gateway requests from the next one on."""
    row = await service.create_budget(session, principal, body)
    await _committed(session, ledger, principal)
    return await service.budget_out(ledger, row)


@router.get("/{budget_id}", response_model=BudgetOut)
async def get_budget(
    budget_id: uuid.UUID, principal: RelayAdmin, session: TenantSession, ledger: Ledger
) -> BudgetOut:
    return await service.budget_out(ledger, await service.get_budget(session, budget_id))


@router.patch("/{budget_id}", response_model=BudgetOut)
async def update_budget(
    budget_id: uuid.UUID,
    body: BudgetUpdate,
    principal: RelayAdmin,
    session: TenantSession,
    ledger: Ledger,
) -> BudgetOut:
    row = await service.update_budget(session, principal, budget_id, body)
    await _committed(session, ledger, principal)
    return await service.budget_out(ledger, row)


@router.delete("/{budget_id}", status_code=204)
async def delete_budget(
    budget_id: uuid.UUID, principal: RelayAdmin, session: TenantSession, ledger: Ledger
) -> Response:
    await service.delete_budget(session, principal, budget_id)
    await _committed(session, ledger, principal)
    return Response(status_code=204)
