"""Budget rules as the ledger sees them: which apply to a request, and their current period.

Rules are read per tenant through the runtime cache (the request path must not query the
table on every call) and invalidated when a budget is created, changed or deleted.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select

from auterity.core.cache import Cache
from auterity.core.database import Database
from auterity.core.tenancy import bind_tenant
from auterity.relaycore.budgets.models import Budget
from auterity.relaycore.payer import Payer

Scope = Literal["tenant", "api_key", "workflow", "run"]
Period = Literal["day", "month", "total"]
Mode = Literal["hard", "soft"]
RULES_TTL = 30.0


@dataclass(frozen=True, slots=True)
class BudgetRule:
    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    scope: Scope
    scope_id: str | None
    period: Period
    limit_micros: int
    mode: Mode
    alert_threshold_percent: int
    downgrade: bool

    @classmethod
    def of(cls, row: Budget) -> BudgetRule:
        return cls(
            id=row.id,
            tenant_id=row.tenant_id,
            name=row.name,
            scope=row.scope,  # type: ignore[arg-type]
            scope_id=row.scope_id,
            period=row.period,  # type: ignore[arg-type]
            limit_micros=row.limit_micros,
            mode=row.mode,  # type: ignore[arg-type]
            alert_threshold_percent=row.alert_threshold_percent,
            downgrade=row.downgrade,
        )

    @property
    def hard(self) -> bool:
        return self.mode == "hard"

    @property
    def threshold_micros(self) -> int:
        """Spend at which the alert fires (integer arithmetic, rounded up)."""
        return -(-self.limit_micros * self.alert_threshold_percent // 100)

    def applies_to(self, payer: Payer) -> bool:
        if self.scope == "tenant":
            return True
        if self.scope == "api_key":
            key = payer.api_key_id
            return key is not None and str(key) == self.scope_id
        if self.scope == "workflow":
            return payer.workflow is not None and payer.workflow == self.scope_id
        return payer.run is not None and payer.run == self.scope_id

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["id"] = str(self.id)
        data["tenant_id"] = str(self.tenant_id)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BudgetRule:
        return cls(
            **{**data, "id": uuid.UUID(data["id"]), "tenant_id": uuid.UUID(data["tenant_id"])}
        )


@dataclass(frozen=True, slots=True)
class PeriodWindow:
    """One period of one budget: its counter key, and when it ends (None: never)."""

    key: str
    ends_at: datetime | None
    seconds_left: int = 0  # from the ledger's clock; Redis expires the counter after this


def _window(key: str, now: datetime, ends_at: datetime) -> PeriodWindow:
    return PeriodWindow(key, ends_at, max(1, int((ends_at - now).total_seconds())))


def period_window(period: Period, now: datetime) -> PeriodWindow:
    now = now.astimezone(UTC)
    if period == "day":
        start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return _window(f"d{start:%Y%m%d}", now, start + timedelta(days=1))
    if period == "month":
        start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        following = (start + timedelta(days=32)).replace(day=1)
        return _window(f"m{start:%Y%m}", now, following)
    return PeriodWindow("total", None)


def cache_key(tenant_id: uuid.UUID) -> str:
    return f"relay-budgets:{tenant_id}"


class BudgetRules:
    """The tenant's budgets, cached; `applying` picks those that cover one request."""

    def __init__(self, db: Database, cache: Cache) -> None:
        self.db = db
        self.cache = cache

    async def for_tenant(self, tenant_id: uuid.UUID) -> list[BudgetRule]:
        async def load() -> list[dict[str, Any]]:
            async with self.db.session(readonly=True) as session:
                bind_tenant(session, tenant_id)
                rows = (await session.scalars(select(Budget).order_by(Budget.id))).all()
                return [BudgetRule.of(row).as_json() for row in rows]

        documents: list[dict[str, Any]] = await self.cache.get_or_load(
            cache_key(tenant_id), load, RULES_TTL
        )
        return [BudgetRule.from_json(document) for document in documents]

    async def applying(self, payer: Payer) -> list[BudgetRule]:
        rules = await self.for_tenant(payer.tenant_id)
        return [rule for rule in rules if rule.applies_to(payer)]

    async def invalidate(self, tenant_id: uuid.UUID) -> None:
        await self.cache.invalidate(cache_key(tenant_id))
