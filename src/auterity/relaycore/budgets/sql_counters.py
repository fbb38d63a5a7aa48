"""Budget counters in the database: one row per budget and period, changed under a row lock.

On PostgreSQL the rows of every budget a request touches are locked (`SELECT … FOR UPDATE`,
in budget-id order so two requests never wait on each other crosswise) before the check and
the reservation; on SQLite the write transaction (`BEGIN IMMEDIATE`, from `Database.session`)
already holds the database's single write lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from auterity.core.database import Database
from auterity.core.errors import ServiceUnavailable
from auterity.relaycore.budgets.counters import CounterLine, Refusal, Reserved, Spend
from auterity.relaycore.budgets.models import BudgetCounter


def _ordered(lines: Sequence[CounterLine]) -> list[tuple[int, CounterLine]]:
    return sorted(enumerate(lines), key=lambda item: (str(item[1].rule.id), item[1].window.key))


def _match(line: CounterLine) -> Any:
    return and_(
        BudgetCounter.budget_id == line.rule.id, BudgetCounter.period_key == line.window.key
    )


class SqlCounters:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def _ensure_rows(self, session: AsyncSession, lines: Sequence[CounterLine]) -> None:
        dialect = sqlite if self.db.is_sqlite else postgresql
        values = [
            {
                "tenant_id": line.rule.tenant_id,
                "budget_id": line.rule.id,
                "period_key": line.window.key,
                "spent_micros": 0,
                "reserved_micros": 0,
                "alerted": False,
            }
            for _, line in _ordered(lines)
        ]
        await session.execute(
            dialect.insert(BudgetCounter)
            .values(values)
            .on_conflict_do_nothing(index_elements=["budget_id", "period_key"])
        )

    async def reserve(self, lines: Sequence[CounterLine], estimate: int) -> Reserved | Refusal:
        try:
            async with self.db.session() as session:
                await self._ensure_rows(session, lines)
                found = await session.execute(
                    select(BudgetCounter)
                    .where(or_(*(_match(line) for line in lines)))
                    .order_by(BudgetCounter.budget_id, BudgetCounter.period_key)
                    .with_for_update()
                )
                rows = {(row.budget_id, row.period_key): row for row in found.scalars()}
                for line in lines:
                    row = rows[(line.rule.id, line.window.key)]
                    spend = Spend(row.spent_micros, row.reserved_micros)
                    if (
                        line.rule.hard
                        and spend.committed_micros + estimate > line.rule.limit_micros
                    ):
                        return Refusal(line, spend)
                over: list[bool] = []
                alerted: list[bool] = []
                for line in lines:
                    row = rows[(line.rule.id, line.window.key)]
                    committed = row.spent_micros + row.reserved_micros + estimate
                    crossed = committed >= line.rule.threshold_micros
                    first = crossed and not row.alerted
                    await session.execute(
                        update(BudgetCounter)
                        .where(_match(line))
                        .values(
                            reserved_micros=BudgetCounter.reserved_micros + estimate,
                            alerted=row.alerted or crossed,
                        )
                        .execution_options(synchronize_session=False)
                    )
                    over.append(crossed)
                    alerted.append(first)
                return Reserved(tuple(over), tuple(alerted))
        except (OperationalError, DBAPIError, OSError) as exc:
            raise ServiceUnavailable(f"The budget store is unavailable: {exc}") from exc

    async def settle(self, lines: Sequence[CounterLine], estimate: int, actual: int) -> None:
        try:
            async with self.db.session() as session:
                for _, line in _ordered(lines):
                    await session.execute(
                        update(BudgetCounter)
                        .where(_match(line))
                        .values(
                            reserved_micros=BudgetCounter.reserved_micros - estimate,
                            spent_micros=BudgetCounter.spent_micros + actual,
                        )
                        .execution_options(synchronize_session=False)
                    )
        except (OperationalError, DBAPIError, OSError) as exc:
            raise ServiceUnavailable(f"The budget store is unavailable: {exc}") from exc

    async def read(self, lines: Sequence[CounterLine]) -> list[Spend]:
        if not lines:
            return []
        async with self.db.session(readonly=True) as session:
            found = await session.execute(
                select(
                    BudgetCounter.budget_id,
                    BudgetCounter.period_key,
                    BudgetCounter.spent_micros,
                    BudgetCounter.reserved_micros,
                ).where(or_(*(_match(line) for line in lines)))
            )
            rows = {(row[0], row[1]): Spend(row[2], row[3]) for row in found}
        return [rows.get((line.rule.id, line.window.key), Spend(0, 0)) for line in lines]

    async def close(self) -> None:
        """The engine belongs to the runtime."""
