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


def _matching(lines: Sequence[CounterLine]) -> Any:
    return or_(*(_match(line) for line in lines))


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
            outcome = await self._reserve(lines, estimate)
            if outcome is None:
                # First request of a period: create the rows in their own transaction (so no
                # lock is held while inserting), then reserve as usual.
                async with self.db.session() as session:
                    await self._ensure_rows(session, lines)
                outcome = await self._reserve(lines, estimate)
            assert outcome is not None, "counter rows exist once created"
            return outcome
        except (OperationalError, DBAPIError, OSError) as exc:
            raise ServiceUnavailable(f"The budget store is unavailable: {exc}") from exc

    async def _reserve(
        self, lines: Sequence[CounterLine], estimate: int
    ) -> Reserved | Refusal | None:
        """None when a line has no counter row yet."""
        async with self.db.session() as session:
            query = (
                select(BudgetCounter)
                .where(_matching(lines))
                .order_by(BudgetCounter.budget_id, BudgetCounter.period_key)
                .with_for_update()
            )
            found = (await session.scalars(query)).all()
            rows = {(row.budget_id, row.period_key): row for row in found}
            if len(rows) < len(lines):
                return None
            spends = [
                Spend(row.spent_micros, row.reserved_micros)
                for row in (rows[(line.rule.id, line.window.key)] for line in lines)
            ]
            for line, spend in zip(lines, spends, strict=True):
                if line.rule.hard and spend.committed_micros + estimate > line.rule.limit_micros:
                    return Refusal(line, spend)
            over = tuple(
                spend.committed_micros + estimate >= line.rule.threshold_micros
                for line, spend in zip(lines, spends, strict=True)
            )
            first = tuple(
                crossed and not rows[(line.rule.id, line.window.key)].alerted
                for line, crossed in zip(lines, over, strict=True)
            )
            # One statement for every line: the common case costs one round trip here.
            await session.execute(
                update(BudgetCounter)
                .where(_matching(lines))
                .values(reserved_micros=BudgetCounter.reserved_micros + estimate)
                .execution_options(synchronize_session=False)
            )
            newly = [line for line, is_first in zip(lines, first, strict=True) if is_first]
            if newly:
                await session.execute(
                    update(BudgetCounter)
                    .where(_matching(newly))
                    .values(alerted=True)
                    .execution_options(synchronize_session=False)
                )
            return Reserved(over, first)

    async def settle(self, lines: Sequence[CounterLine], estimate: int, actual: int) -> None:
        try:
            async with self.db.session() as session:
                if not self.db.is_sqlite and len(lines) > 1:
                    # An UPDATE locks rows in the order it finds them; lock them in budget-id
                    # order first, as `reserve` does, so the two never wait on each other.
                    await session.execute(
                        select(BudgetCounter.budget_id)
                        .where(_matching(lines))
                        .order_by(BudgetCounter.budget_id, BudgetCounter.period_key)
                        .with_for_update()
                    )
                await session.execute(
                    update(BudgetCounter)
                    .where(_matching(lines))
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
                ).where(_matching(lines))
            )
            rows = {(row[0], row[1]): Spend(row[2], row[3]) for row in found}
        return [rows.get((line.rule.id, line.window.key), Spend(0, 0)) for line in lines]

    async def close(self) -> None:
        """The engine belongs to the runtime."""
