"""The budget ledger: reserve a request's maximum cost against every budget covering it, settle
the actual cost afterwards, release the reservation if the request fails.

Hard budgets refuse (402 `BudgetExceeded`, naming the budget); soft ones never refuse but alert
once per period when crossing their threshold (hooks, audit record, log) and, when the budget
asks for it, advise routing to downgrade to a cheaper model.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from auterity.core.clock import Clock, utcnow
from auterity.core.database import Database
from auterity.core.errors import BudgetExceeded
from auterity.core.logging import get_logger
from auterity.core.metrics import counter
from auterity.identity import audit
from auterity.relaycore.budgets.counters import (
    BudgetCounters,
    CounterLine,
    Refusal,
    Spend,
)
from auterity.relaycore.budgets.rules import BudgetRule, BudgetRules, period_window
from auterity.relaycore.payer import Payer

log = get_logger(__name__)
REFUSALS = counter("relay_budget_refusals_total", "Requests refused by a hard budget", ("scope",))
ALERTS = counter("relay_budget_alerts_total", "Budgets crossing their alert threshold", ("mode",))


@dataclass(frozen=True, slots=True)
class BudgetAlert:
    """A budget crossed its alert threshold (sent once per budget and period)."""

    rule: BudgetRule
    period_key: str
    committed_micros: int  # spent + reserved, including the request that crossed it


AlertHook = Callable[[BudgetAlert], Awaitable[None] | None]


@dataclass(slots=True)
class Reservation:
    """What `reserve` holds for one request; pass it to `settle` or `release` exactly once."""

    estimate_micros: int
    lines: tuple[CounterLine, ...]
    downgrade_advised: bool = False
    alerts: tuple[BudgetAlert, ...] = ()
    closed: bool = field(default=False)


def budget_exceeded(refusal: Refusal, estimate: int) -> BudgetExceeded:
    rule = refusal.line.rule
    spent = refusal.spend.committed_micros
    scope = rule.scope if rule.scope_id is None else f"{rule.scope} {rule.scope_id}"
    return BudgetExceeded(
        f"The {rule.period} budget '{rule.name}' ({scope}) has {rule.limit_micros - spent} "
        f"micro-dollars left; this request may cost up to {estimate}.",
        extra={
            "budget": {
                "id": str(rule.id),
                "name": rule.name,
                "scope": rule.scope,
                "scope_id": rule.scope_id,
                "period": rule.period,
                "period_key": refusal.line.window.key,
                "limit_micros": rule.limit_micros,
                "spent_micros": refusal.spend.spent_micros,
                "reserved_micros": refusal.spend.reserved_micros,
            },
            "estimate_micros": estimate,
        },
    )


class BudgetLedger:
    def __init__(
        self,
        rules: BudgetRules,
        counters: BudgetCounters,
        db: Database,
        *,
        clock: Clock | None = None,
    ) -> None:
        self.rules = rules
        self.counters = counters
        self.db = db
        # Default: the platform's clock (`set_clock` in tests moves budget periods too).
        self._now = clock.now if clock is not None else utcnow
        self._hooks: list[AlertHook] = []

    def on_alert(self, hook: AlertHook) -> None:
        """Call `hook` (sync or async) for every threshold crossing."""
        self._hooks.append(hook)

    async def reserve(self, payer: Payer, estimate_micros: int) -> Reservation:
        """Reserve `estimate_micros` on every budget covering the request, atomically.

        Raises `BudgetExceeded` (402) when a hard budget would go over; nothing is reserved then.
        """
        if estimate_micros < 0:
            raise ValueError("estimate_micros must not be negative")
        rules = await self.rules.applying(payer)
        if not rules:
            return Reservation(estimate_micros, ())
        now = self._now()
        lines = tuple(CounterLine(rule, period_window(rule.period, now)) for rule in rules)
        outcome = await self.counters.reserve(lines, estimate_micros)
        if isinstance(outcome, Refusal):
            REFUSALS.labels(outcome.line.rule.scope).inc()
            raise budget_exceeded(outcome, estimate_micros)
        downgrade = any(
            over and line.rule.downgrade
            for over, line in zip(outcome.over_threshold, lines, strict=True)
        )
        crossed = [line for first, line in zip(outcome.newly_alerted, lines, strict=True) if first]
        alerts: tuple[BudgetAlert, ...] = ()
        if crossed:
            spends = await self.counters.read(crossed)
            alerts = tuple(
                BudgetAlert(line.rule, line.window.key, spend.committed_micros)
                for line, spend in zip(crossed, spends, strict=True)
            )
            for alert in alerts:
                await self._alert(alert)
        return Reservation(estimate_micros, lines, downgrade_advised=downgrade, alerts=alerts)

    async def settle(self, reservation: Reservation, actual_micros: int) -> None:
        """Book the actual cost and release the rest of the reservation (once)."""
        if reservation.closed:
            return
        reservation.closed = True
        if reservation.lines:
            await self.counters.settle(
                reservation.lines, reservation.estimate_micros, max(0, actual_micros)
            )

    async def release(self, reservation: Reservation) -> None:
        """Give the whole reservation back (the request failed before costing anything)."""
        await self.settle(reservation, 0)

    async def spend(self, rule: BudgetRule) -> Spend:
        """Where `rule` stands in its current period."""
        line = CounterLine(rule, period_window(rule.period, self._now()))
        return (await self.counters.read([line]))[0]

    async def _alert(self, alert: BudgetAlert) -> None:
        rule = alert.rule
        ALERTS.labels(rule.mode).inc()
        log.warning(
            "relay_budget_threshold_crossed",
            budget_id=str(rule.id),
            tenant_id=str(rule.tenant_id),
            period_key=alert.period_key,
            limit_micros=rule.limit_micros,
            committed_micros=alert.committed_micros,
        )
        await audit.record_now(
            self.db,
            "relay.budget.threshold_crossed",
            "success",
            tenant_id=rule.tenant_id,
            actor_label="relaycore",
            target_type="relay_budget",
            target_id=rule.id,
            details={
                "name": rule.name,
                "mode": rule.mode,
                "period_key": alert.period_key,
                "limit_micros": rule.limit_micros,
                "threshold_percent": rule.alert_threshold_percent,
                "committed_micros": alert.committed_micros,
            },
        )
        for hook in self._hooks:
            try:
                result = hook(alert)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                # A broken subscriber must not fail the request that crossed the threshold.
                log.exception("relay_budget_alert_hook_failed", budget_id=str(rule.id))
