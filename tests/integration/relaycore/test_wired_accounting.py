"""The pipeline's money-and-limits stages, through `/v1` with the official `openai` SDK:
usage booked once per request, hard budgets refusing with 402, rate limits with 429, cache."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from auterity.relaycore.costs import Usage, cost_micros
from auterity.relaycore.local.bundled import embedding_model_installed
from tests.fixtures.llm_upstreams import Fault
from tests.fixtures.llm_upstreams import Usage as ForcedUsage
from tests.integration.relaycore.conftest import Relay

USAGE = "/api/relay/usage"
FORCED = ForcedUsage(prompt=1000, completion=500)


def price_of(relay: Relay, model: str) -> Any:
    return relay.gateway.catalog.deployments[model][0].price


async def usage_report(relay: Relay, **params: Any) -> list[dict[str, Any]]:
    # The recorder writes in the background: flush so the report sees every finished request.
    await relay.app.state.relay_accounting.usage.flush()
    found = await relay.client.get(USAGE, params=params, headers=relay.owner.headers)
    assert found.status_code == 200, found.text
    items: list[dict[str, Any]] = found.json()["items"]
    return items


async def test_every_request_is_booked_once(relay: Relay) -> None:
    relay.upstreams.openai.usage = FORCED
    client = relay.openai(await relay.key())
    chat_cost = cost_micros(price_of(relay, "gpt-4o-mini"), Usage(1000, 500))
    headers = {"X-Auterity-Workflow": "wf-usage", "X-Auterity-Run": "run-1"}
    for _ in range(2):
        await client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "hello"}],
            extra_headers=headers,
        )
    stream = await client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "stream me"}],
        stream=True,
        extra_headers=headers,
    )
    assert [chunk async for chunk in stream]
    await client.embeddings.create(model="text-embedding-3-small", input="three words here")
    relay.upstreams.openai.script(Fault(status=500))
    relay.upstreams.backup.script(Fault(status=500))
    with pytest.raises(openai.InternalServerError):
        await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "fail"}]
        )

    by_model = {row["model"]: row for row in await usage_report(relay, group_by="model")}
    chat = by_model["gpt-4o-mini"]
    assert chat["requests"] == 4 and chat["errors"] == 1
    assert chat["input_tokens"] == 3000 and chat["output_tokens"] == 1500
    assert chat["cost_micros"] == 3 * chat_cost
    embedding = by_model["text-embedding-3-small"]
    assert embedding["requests"] == 1 and embedding["input_tokens"] == 3  # words, upstream
    assert embedding["cost_micros"] == cost_micros(
        price_of(relay, "text-embedding-3-small"), Usage(3)
    )
    by_workflow = {row["workflow"]: row for row in await usage_report(relay, group_by="workflow")}
    assert by_workflow["wf-usage"]["requests"] == 3
    assert by_workflow["wf-usage"]["cost_micros"] == 3 * chat_cost
    errors = await usage_report(relay, status="error")
    assert errors[0]["requests"] == 1 and errors[0]["cost_micros"] == 0


async def test_a_hard_budget_refuses_with_402_once_spent(relay: Relay) -> None:
    relay.upstreams.openai.usage = FORCED
    price = price_of(relay, "gpt-4o-mini")
    actual = cost_micros(price, Usage(1000, 500))  # 450 micro-dollars a request
    created = await relay.client.post(
        "/api/relay/budgets",
        json={"name": "tiny", "scope": "tenant", "period": "day", "limit_micros": 1200},
        headers=relay.owner.headers,
    )
    assert created.status_code == 201, created.text
    budget_id = created.json()["id"]
    client = relay.openai(await relay.key())
    # Each reserves about 500 * 0.60 + prompt ≈ 301 micro-dollars and books 450.
    costs = []
    for _ in range(2):
        raw = await client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], max_tokens=500
        )
        costs.append(raw.headers["x-auterity-cost-usd"])
    assert costs == [f"0.000{actual}"] * 2
    with pytest.raises(openai.APIStatusError) as refused:
        await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], max_tokens=500
        )
    assert refused.value.status_code == 402
    error = refused.value.body
    assert isinstance(error, dict)
    assert error["type"] == "insufficient_quota" and error["code"] == "budget_exceeded"
    assert "'tiny'" in error["message"]
    assert len(relay.upstreams.openai.requests("/v1/chat/completions")) == 2

    shown = await relay.client.get(f"/api/relay/budgets/{budget_id}", headers=relay.owner.headers)
    assert shown.json()["spent_micros"] == 2 * actual
    assert shown.json()["reserved_micros"] == 0


async def test_a_failed_request_releases_its_reservation(relay: Relay) -> None:
    created = await relay.client.post(
        "/api/relay/budgets",
        json={"name": "b", "scope": "tenant", "period": "day", "limit_micros": 10_000},
        headers=relay.owner.headers,
    )
    client = relay.openai(await relay.key())
    relay.upstreams.openai.script(Fault(status=500))
    relay.upstreams.backup.script(Fault(status=500))
    with pytest.raises(openai.InternalServerError):
        await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], max_tokens=50
        )
    shown = await relay.client.get(
        f"/api/relay/budgets/{created.json()['id']}", headers=relay.owner.headers
    )
    assert shown.json()["spent_micros"] == 0 and shown.json()["reserved_micros"] == 0


async def test_tenant_rate_limit_answers_429_with_retry_after(relay: Relay) -> None:
    limits = {"tenant_limits": {"requests_per_minute": 2}}
    patched = await relay.client.patch(
        "/api/tenant/settings", json={"relay": limits}, headers=relay.owner.headers
    )
    assert patched.status_code == 200, patched.text
    client = relay.openai(await relay.key())
    remaining = []
    for _ in range(2):
        raw = await client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
        assert raw.headers["x-ratelimit-limit-requests"] == "2"
        remaining.append(raw.headers["x-ratelimit-remaining-requests"])
    assert remaining == ["1", "0"]
    with pytest.raises(openai.RateLimitError) as limited:
        await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
    response = limited.value.response
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) >= 1
    assert response.headers["x-ratelimit-remaining-requests"] == "0"
    body = limited.value.body
    assert isinstance(body, dict) and body["code"] == "rate_limit_exceeded"
    assert len(relay.upstreams.openai.requests("/v1/chat/completions")) == 2
    refused = await usage_report(relay, status="rate_limited")
    assert refused[0]["requests"] == 1


async def test_no_limits_no_headers(relay: Relay) -> None:
    client = relay.openai(await relay.key())
    raw = await client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
    )
    assert not [name for name in raw.headers if name.startswith("x-ratelimit-")]


async def test_exact_cache_answers_a_repeat_free_when_enabled(relay: Relay) -> None:
    client = relay.openai(await relay.key())
    ask: dict[str, Any] = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "cache me"}],
    }
    first = await client.chat.completions.with_raw_response.create(**ask)
    again = await client.chat.completions.with_raw_response.create(**ask)
    assert "x-auterity-cache" not in again.headers  # off unless the tenant turns it on
    assert len(relay.upstreams.openai.requests("/v1/chat/completions")) == 2

    patched = await relay.client.patch(
        "/api/tenant/settings", json={"relay": {"exact_cache": True}}, headers=relay.owner.headers
    )
    assert patched.status_code == 200, patched.text
    miss = await client.chat.completions.with_raw_response.create(**ask)
    assert "x-auterity-cache" not in miss.headers
    assert float(miss.headers["x-auterity-cost-usd"]) > 0
    hit = await client.chat.completions.with_raw_response.create(**ask)
    assert hit.headers["x-auterity-cache"] == "exact"
    assert hit.headers["x-auterity-cost-usd"] == "0.000000"
    assert hit.headers["x-auterity-model"] == "gpt-4o-mini"
    assert hit.headers["x-auterity-provider"] == "openai"
    assert hit.parse().choices[0].message.content == first.parse().choices[0].message.content
    assert len(relay.upstreams.openai.requests("/v1/chat/completions")) == 3
    # A different request, or a stream, goes to the provider.
    other = await client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "something else"}]
    )
    assert "x-auterity-cache" not in other.headers
    stream = await client.chat.completions.create(**ask, stream=True)
    assert [chunk async for chunk in stream]
    assert len(relay.upstreams.openai.requests("/v1/chat/completions")) == 5

    rows = await usage_report(relay)
    assert rows[0]["requests"] == 6 and rows[0]["cache_hits"] == 1


@pytest.mark.skipif(not embedding_model_installed(), reason="needs the `local` extra")
async def test_semantic_cache_answers_a_reworded_prompt_when_enabled(relay: Relay) -> None:
    # The app compares prompts with the bundled embedding model (cosine 0.99 for these two).
    client = relay.openai(await relay.key())
    patched = await relay.client.patch(
        "/api/tenant/settings",
        json={"relay": {"semantic_cache": True}},
        headers=relay.owner.headers,
    )
    assert patched.status_code == 200, patched.text
    ask = {"role": "user", "content": "What is the capital of France?"}
    first = await client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[ask]
    )
    assert "x-auterity-cache" not in first.headers
    reworded = {"role": "user", "content": "What's the capital of France?"}
    hit = await client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[reworded]
    )
    assert hit.headers["x-auterity-cache"] == "semantic"
    assert hit.headers["x-auterity-cost-usd"] == "0.000000"
    assert hit.parse().choices[0].message.content == first.parse().choices[0].message.content
    assert len(relay.upstreams.openai.requests("/v1/chat/completions")) == 1
    unrelated = await client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Write a haiku about rain."}]
    )
    assert "x-auterity-cache" not in unrelated.headers
    assert len(relay.upstreams.openai.requests("/v1/chat/completions")) == 2


async def test_a_soft_budget_past_its_threshold_downgrades_to_a_cheaper_model(
    relay: Relay,
) -> None:
    layer = {"aliases": {"pricey-first": {"models": ["gpt-4o-mini", "gpt-4.1-nano"]}}}
    written = await relay.client.put("/api/relay/catalog", json=layer, headers=relay.owner.headers)
    assert written.status_code == 200, written.text
    client = relay.openai(await relay.key())
    ask: dict[str, Any] = {"model": "pricey-first", "messages": [{"role": "user", "content": "hi"}]}
    before = await client.chat.completions.with_raw_response.create(**ask)
    assert before.headers["x-auterity-model"] == "gpt-4o-mini"

    created = await relay.client.post(
        "/api/relay/budgets",
        json={
            "name": "soft",
            "scope": "tenant",
            "period": "day",
            "limit_micros": 1000,
            "mode": "soft",
            "alert_threshold_percent": 1,
            "downgrade": True,
        },
        headers=relay.owner.headers,
    )
    assert created.status_code == 201, created.text
    after = await client.chat.completions.with_raw_response.create(**ask)
    assert after.headers["x-auterity-model"] == "gpt-4.1-nano"
    assert after.headers["x-auterity-route"].endswith(";downgrade")
    # Soft: never refuses, even far past its limit.
    for _ in range(3):
        await client.chat.completions.create(**ask, max_tokens=4000)
