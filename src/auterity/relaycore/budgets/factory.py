"""Choose the ledger's counter store from settings: Redis when configured, the database else."""

from __future__ import annotations

from auterity.core.clock import Clock
from auterity.core.runtime import Runtime
from auterity.relaycore.budgets.counters import BudgetCounters
from auterity.relaycore.budgets.ledger import BudgetLedger
from auterity.relaycore.budgets.redis_counters import RedisCounters
from auterity.relaycore.budgets.rules import BudgetRules
from auterity.relaycore.budgets.sql_counters import SqlCounters


def build_ledger(runtime: Runtime, *, clock: Clock | None = None) -> BudgetLedger:
    counters: BudgetCounters = (
        RedisCounters(runtime.redis)
        if runtime.redis is not None and runtime.settings.redis_url
        else SqlCounters(runtime.db)
    )
    return BudgetLedger(BudgetRules(runtime.db, runtime.cache), counters, runtime.db, clock=clock)
