"""Budgets: per-tenant spending limits and the ledger that reserves and settles against them."""

from auterity.relaycore.budgets.counters import BudgetCounters
from auterity.relaycore.budgets.factory import build_ledger
from auterity.relaycore.budgets.ledger import (
    AlertHook,
    BudgetAlert,
    BudgetLedger,
    Reservation,
)
from auterity.relaycore.budgets.rules import BudgetRule, BudgetRules

__all__ = [
    "AlertHook",
    "BudgetAlert",
    "BudgetCounters",
    "BudgetLedger",
    "BudgetRule",
    "BudgetRules",
    "Reservation",
    "build_ledger",
]
