"""The budget ledger on SQLite and PostgreSQL, with counters in the database or in Redis."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from auterity.core.clock import FrozenClock
from auterity.core.errors import BudgetExceeded
from auterity.core.problems import problem_response
from auterity.core.runtime import Runtime
from auterity.identity.models import AuditEvent
from auterity.relaycore.budgets import BudgetAlert, BudgetLedger, build_ledger
from auterity.relaycore.payer import Payer
from tests.integration.relaycore.conftest import make_budget, make_tenant

START = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def ledger(runtime: Runtime, clock: FrozenClock) -> BudgetLedger:
    return build_ledger(runtime, clock=clock)


async def test_the_store_follows_the_settings(ledger: BudgetLedger, store: str) -> None:
    assert type(ledger.counters).__name__ == (
        "RedisCounters" if store == "redis" else "SqlCounters"
    )


async def test_a_hard_budget_refuses_with_a_problem_naming_it(
    ledger: BudgetLedger, runtime: Runtime
) -> None:
    tenant = await make_tenant(runtime.db)
    budget = await make_budget(runtime.db, tenant, name="monthly", limit_micros=1_000)
    who = Payer(tenant)
    first = await ledger.reserve(who, 600)
    await ledger.settle(first, 550)

    with pytest.raises(BudgetExceeded) as refused:
        await ledger.reserve(who, 500)

    response = problem_response(refused.value, "/v1/chat/completions")
    assert response.status_code == 402
    body = refused.value.extra["budget"]
    assert body["id"] == str(budget)
    assert (body["name"], body["scope"], body["period"]) == ("monthly", "tenant", "month")
    assert (body["limit_micros"], body["spent_micros"], body["reserved_micros"]) == (1_000, 550, 0)
    # What still fits goes through, and a refusal reserved nothing.
    fits = await ledger.reserve(who, 450)
    await ledger.settle(fits, 450)
    rule = (await ledger.rules.for_tenant(tenant))[0]
    spend = await ledger.spend(rule)
    assert (spend.spent_micros, spend.reserved_micros) == (1_000, 0)


async def test_settle_books_the_actual_cost_and_release_gives_everything_back(
    ledger: BudgetLedger, runtime: Runtime
) -> None:
    tenant = await make_tenant(runtime.db)
    await make_budget(runtime.db, tenant, limit_micros=10_000)
    rule = (await ledger.rules.for_tenant(tenant))[0]
    who = Payer(tenant)

    held = await ledger.reserve(who, 3_000)
    assert (await ledger.spend(rule)).reserved_micros == 3_000
    await ledger.settle(held, 1_234)
    await ledger.settle(held, 1_234)  # a second settle of the same reservation changes nothing
    failed = await ledger.reserve(who, 5_000)
    await ledger.release(failed)

    spend = await ledger.spend(rule)
    assert (spend.spent_micros, spend.reserved_micros) == (1_234, 0)


async def test_every_budget_covering_the_request_counts_and_one_refusal_reserves_on_none(
    ledger: BudgetLedger, runtime: Runtime
) -> None:
    tenant = await make_tenant(runtime.db)
    key, other_key = uuid.uuid4(), uuid.uuid4()
    await make_budget(runtime.db, tenant, name="tenant", limit_micros=100_000)
    await make_budget(
        runtime.db, tenant, name="key", scope="api_key", scope_id=str(key), limit_micros=50_000
    )
    await make_budget(
        runtime.db,
        tenant,
        name="flow",
        scope="workflow",
        scope_id="invoices",
        limit_micros=30_000,
        period="day",
    )
    await make_budget(
        runtime.db,
        tenant,
        name="run",
        scope="run",
        scope_id="run-1",
        limit_micros=20_000,
        period="total",
    )
    rules = {rule.name: rule for rule in await ledger.rules.for_tenant(tenant)}
    in_run = Payer(tenant, key, workflow="invoices", run="run-1")

    await ledger.settle(await ledger.reserve(in_run, 15_000), 15_000)
    with pytest.raises(BudgetExceeded) as refused:
        await ledger.reserve(in_run, 10_000)  # the run budget has 5,000 left
    assert refused.value.extra["budget"]["name"] == "run"
    # Another run of the same workflow, by another key, is not held by the run or key budget.
    elsewhere = Payer(tenant, other_key, workflow="invoices", run="run-2")
    await ledger.settle(await ledger.reserve(elsewhere, 10_000), 10_000)

    spent = {name: (await ledger.spend(rule)).spent_micros for name, rule in rules.items()}
    assert spent == {"tenant": 25_000, "key": 15_000, "flow": 25_000, "run": 15_000}


async def test_a_request_no_budget_covers_touches_no_counter(
    ledger: BudgetLedger, runtime: Runtime
) -> None:
    tenant = await make_tenant(runtime.db)
    await make_budget(runtime.db, tenant, scope="workflow", scope_id="other", limit_micros=1)
    reservation = await ledger.reserve(Payer(tenant, workflow="mine"), 1_000_000)
    assert reservation.lines == ()


async def test_a_day_budget_starts_again_the_next_day(
    ledger: BudgetLedger, runtime: Runtime, clock: FrozenClock
) -> None:
    tenant = await make_tenant(runtime.db)
    await make_budget(runtime.db, tenant, limit_micros=1_000, period="day")
    who = Payer(tenant)
    await ledger.settle(await ledger.reserve(who, 1_000), 1_000)
    with pytest.raises(BudgetExceeded):
        await ledger.reserve(who, 1)
    clock.advance(timedelta(hours=12))  # midnight UTC has passed
    await ledger.settle(await ledger.reserve(who, 1_000), 1_000)


async def test_a_soft_budget_alerts_once_per_period_and_advises_a_downgrade(
    ledger: BudgetLedger, runtime: Runtime, clock: FrozenClock
) -> None:
    tenant = await make_tenant(runtime.db)
    budget = await make_budget(
        runtime.db, tenant, mode="soft", limit_micros=1_000, alert_threshold_percent=50,
        downgrade=True, period="day",
    )  # fmt: skip
    alerts: list[BudgetAlert] = []
    ledger.on_alert(alerts.append)
    who = Payer(tenant)

    below = await ledger.reserve(who, 400)
    assert not below.downgrade_advised and not below.alerts
    await ledger.settle(below, 400)
    crossing = await ledger.reserve(who, 200)
    assert crossing.downgrade_advised
    await ledger.settle(crossing, 200)
    # Past the limit a soft budget still lets requests through, without alerting again.
    for _ in range(3):
        await ledger.settle(await ledger.reserve(who, 500), 500)

    assert [(a.rule.id, a.period_key, a.committed_micros) for a in alerts] == [
        (budget, "d20260314", 600)
    ]
    async with runtime.db.session(readonly=True) as session:
        audited = (
            await session.scalars(
                select(AuditEvent).where(AuditEvent.action == "relay.budget.threshold_crossed")
            )
        ).all()
    assert [(e.tenant_id, e.target_id) for e in audited] == [(tenant, str(budget))]

    clock.advance(timedelta(days=1))
    assert not (await ledger.reserve(who, 100)).downgrade_advised
    await ledger.settle(await ledger.reserve(who, 500), 500)
    assert [a.period_key for a in alerts] == ["d20260314", "d20260315"]


async def test_a_broken_alert_hook_does_not_fail_the_request(
    ledger: BudgetLedger, runtime: Runtime
) -> None:
    tenant = await make_tenant(runtime.db)
    await make_budget(runtime.db, tenant, mode="soft", limit_micros=100)

    async def broken(alert: BudgetAlert) -> None:
        raise RuntimeError("subscriber bug")

    ledger.on_alert(broken)
    reservation = await ledger.reserve(Payer(tenant), 100)
    assert len(reservation.alerts) == 1


@pytest.mark.parametrize("actual", [1_000, 700])
async def test_200_concurrent_requests_overspend_a_hard_budget_by_at_most_one_request(
    ledger: BudgetLedger, runtime: Runtime, actual: int
) -> None:
    tenant = await make_tenant(runtime.db)
    limit, estimate = 50_500, 1_000
    await make_budget(runtime.db, tenant, limit_micros=limit)
    rule = (await ledger.rules.for_tenant(tenant))[0]
    who = Payer(tenant)

    async def request() -> bool:
        try:
            reservation = await ledger.reserve(who, estimate)
        except BudgetExceeded:
            return False
        await asyncio.sleep(0)  # let others reserve while this one "calls the provider"
        await ledger.settle(reservation, actual)
        return True

    admitted = sum(await asyncio.gather(*(request() for _ in range(200))))

    spend = await ledger.spend(rule)
    assert spend.reserved_micros == 0
    assert spend.spent_micros == admitted * actual
    assert spend.spent_micros <= limit + estimate
    if actual == estimate:
        # Every request that fit was admitted: the limit is used, not merely respected.
        assert admitted == limit // estimate
    else:
        assert admitted >= limit // estimate
