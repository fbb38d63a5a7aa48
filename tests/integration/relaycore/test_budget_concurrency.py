"""A hard budget under 200 concurrent chat completions over HTTP: exact to one request's cost,
on SQLite (counters under the database's write lock) and on PostgreSQL with Redis (Lua)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest

from auterity.core.database import Database
from auterity.core.settings import Settings
from auterity.relaycore.costs import Usage, cost_micros
from auterity.relaycore.tokens import count_messages
from tests.fixtures.llm_upstreams import Upstreams
from tests.fixtures.llm_upstreams import Usage as ForcedUsage
from tests.integration.relaycore.conftest import Relay, serve_relay

REQUESTS = 200
FITTING = 50  # requests the budget has room for
MAX_TOKENS = 500
MESSAGES = [{"role": "user", "content": "count my money"}]


@pytest.fixture
async def relay(
    relay_settings: Settings, db: Database, upstreams: Upstreams, request: pytest.FixtureRequest
) -> AsyncIterator[Relay]:
    """SQLite keeps its counters in the database; PostgreSQL is paired with Redis."""
    if not db.is_sqlite:
        relay_settings = relay_settings.model_copy(
            update={"redis_url": request.getfixturevalue("redis_url")}
        )
    async with serve_relay(relay_settings, db, upstreams) as served:
        yield served


async def test_200_concurrent_requests_overspend_a_hard_budget_by_at_most_one(
    relay: Relay, db: Database
) -> None:
    counters = type(relay.app.state.relay_accounting.ledger.counters).__name__
    assert counters == ("SqlCounters" if db.is_sqlite else "RedisCounters")
    # The upstream reports exactly the tokens the gateway reserves for (the prompt as it
    # counts it, max_tokens of output): each admitted request books its whole estimate.
    prompt = count_messages(MESSAGES)
    prices = [d.price for d in relay.gateway.catalog.deployments["gpt-4o-mini"]]
    cost = max(cost_micros(price, Usage(prompt, MAX_TOKENS)) for price in prices)
    assert cost == cost_micros(prices[0], Usage(prompt, MAX_TOKENS))
    relay.upstreams.openai.usage = ForcedUsage(prompt=prompt, completion=MAX_TOKENS)
    limit = FITTING * cost + cost // 2
    created = await relay.client.post(
        "/api/relay/budgets",
        json={"name": "launch", "scope": "tenant", "period": "day", "limit_micros": limit},
        headers=relay.owner.headers,
    )
    assert created.status_code == 201, created.text
    budget_id = created.json()["id"]
    client = relay.openai(await relay.key())

    async def ask() -> int | dict[str, Any]:
        try:
            await client.chat.completions.create(
                model="gpt-4o-mini", messages=MESSAGES, max_tokens=MAX_TOKENS
            )
        except openai.APIStatusError as refused:
            assert refused.status_code == 402, refused.body
            assert isinstance(refused.body, dict)
            return refused.body
        return 200

    answers = await asyncio.gather(*(ask() for _ in range(REQUESTS)))

    admitted = answers.count(200)
    refusals = [answer for answer in answers if isinstance(answer, dict)]
    assert admitted + len(refusals) == REQUESTS
    # Every request that fitted got through, and not one more.
    assert admitted == FITTING
    for error in refusals:
        assert (error["type"], error["code"]) == ("insufficient_quota", "budget_exceeded")
        assert "budget 'launch'" in error["message"]
    assert len(relay.upstreams.openai.requests("/v1/chat/completions")) == admitted

    shown = await relay.client.get(f"/api/relay/budgets/{budget_id}", headers=relay.owner.headers)
    budget = shown.json()
    assert budget["reserved_micros"] == 0
    assert budget["spent_micros"] == admitted * cost <= limit + cost

    await relay.app.state.relay_accounting.usage.flush()
    report = await relay.client.get(
        "/api/relay/usage", params={"group_by": "model"}, headers=relay.owner.headers
    )
    (row,) = report.json()["items"]
    assert row["requests"] == REQUESTS
    assert row["cost_micros"] == budget["spent_micros"]
    assert (row["input_tokens"], row["output_tokens"]) == (admitted * prompt, admitted * MAX_TOKENS)
    by_status = await relay.client.get(
        "/api/relay/usage",
        params={"status": "budget_exceeded"},
        headers=relay.owner.headers,
    )
    (refused_row,) = by_status.json()["items"]
    assert (refused_row["requests"], refused_row["cost_micros"]) == (len(refusals), 0)
