"""The counter store behind the ledger: reserve across several budgets at once, or not at all.

Two implementations share this interface and the shared test suite: `RedisCounters` (one Lua
script, when Redis is configured) and `SqlCounters` (row locks in the database otherwise).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from auterity.relaycore.budgets.rules import BudgetRule, PeriodWindow


@dataclass(frozen=True, slots=True)
class CounterLine:
    """One budget's counter for the current period."""

    rule: BudgetRule
    window: PeriodWindow


@dataclass(frozen=True, slots=True)
class Spend:
    spent_micros: int
    reserved_micros: int

    @property
    def committed_micros(self) -> int:
        return self.spent_micros + self.reserved_micros


@dataclass(frozen=True, slots=True)
class Refusal:
    """The hard budget that would be exceeded, and where it stood."""

    line: CounterLine
    spend: Spend


@dataclass(frozen=True, slots=True)
class Reserved:
    """Per line (same order as asked): past its alert threshold now; first to cross it."""

    over_threshold: tuple[bool, ...]
    newly_alerted: tuple[bool, ...]


class BudgetCounters(Protocol):
    async def reserve(self, lines: Sequence[CounterLine], estimate: int) -> Reserved | Refusal:
        """Add `estimate` to every line's reservation, unless a hard line would go over."""
        ...

    async def settle(self, lines: Sequence[CounterLine], estimate: int, actual: int) -> None:
        """Move `estimate` out of reserved and book `actual` as spent."""
        ...

    async def read(self, lines: Sequence[CounterLine]) -> list[Spend]: ...

    async def close(self) -> None: ...
