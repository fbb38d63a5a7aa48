"""API shapes of `/api/relay/budgets`."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Self

from pydantic import Field, model_validator

from auterity.core.schemas import ResponseModel, StrictModel
from auterity.relaycore.budgets.rules import Mode, Period, Scope

MAX_LIMIT_MICROS = 10**15  # a billion dollars: far above any real budget, far below 2**53


class BudgetCreate(StrictModel):
    name: str = Field(min_length=1, max_length=200)
    scope: Scope
    scope_id: str | None = Field(
        default=None,
        max_length=200,
        description="The API key id, workflow or run the budget covers; omit for `tenant`.",
    )
    period: Period
    limit_micros: int = Field(ge=0, le=MAX_LIMIT_MICROS, description="Limit in micro-dollars.")
    mode: Mode = "hard"
    alert_threshold_percent: int = Field(default=80, ge=1, le=100)
    downgrade: bool = Field(
        default=False,
        description="Past the alert threshold, route to a cheaper qualifying model.",
    )

    @model_validator(mode="after")
    def _scope_id_matches_scope(self) -> Self:
        if self.scope == "tenant" and self.scope_id is not None:
            raise ValueError("a tenant budget has no scope_id")
        if self.scope != "tenant" and not self.scope_id:
            raise ValueError(f"a {self.scope} budget needs a scope_id")
        if self.scope == "api_key" and self.scope_id is not None:
            try:
                self.scope_id = str(uuid.UUID(self.scope_id))
            except ValueError:
                raise ValueError("scope_id of an api_key budget is the key's id (a UUID)") from None
        return self


class BudgetUpdate(StrictModel):
    """Fields to change; the scope of a budget is fixed (create another instead)."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    period: Period | None = None
    limit_micros: int | None = Field(default=None, ge=0, le=MAX_LIMIT_MICROS)
    mode: Mode | None = None
    alert_threshold_percent: int | None = Field(default=None, ge=1, le=100)
    downgrade: bool | None = None


class BudgetOut(ResponseModel):
    id: uuid.UUID
    name: str
    scope: Scope
    scope_id: str | None
    period: Period
    limit_micros: int
    mode: Mode
    alert_threshold_percent: int
    downgrade: bool
    spent_micros: int = Field(description="Booked in the current period.")
    reserved_micros: int = Field(description="Held by requests still in flight.")
    created_at: datetime
    updated_at: datetime
