"""Routing policies end to end: aliases, cheapest, fastest, difficulty, weighted, per key."""

from __future__ import annotations

import random
from typing import Any

import openai
import pytest

from tests.fixtures.llm_upstreams import Fault
from tests.integration.relaycore.conftest import Relay

HARD_PROMPT = (
    "Prove that the algorithm below runs in O(n log n), analyze its worst case step by step, "
    "then refactor it and explain why the design trade-offs matter:\n```python\n"
    "def sort(xs):\n    return sorted(xs)\n```\n" + "Consider every edge case carefully. " * 60
)


async def routed(client: openai.AsyncOpenAI, model: str, **extra: Any) -> tuple[str, str]:
    raw = await client.chat.completions.with_raw_response.create(
        model=model, messages=extra.pop("messages", [{"role": "user", "content": "hi"}]), **extra
    )
    return raw.headers["x-auterity-model"], raw.headers["x-auterity-route"]


async def test_alias_tries_its_models_in_order(relay: Relay) -> None:
    client = relay.openai(await relay.key())
    assert await routed(client, "smart") == ("claude-sonnet-4", "alias:smart")
    relay.upstreams.anthropic.script(Fault(status=529))
    model, route = await routed(client, "smart")
    assert (model, route) == ("gpt-4.1", "alias:smart;failover=1")


async def test_cheapest_that_satisfies_the_request(relay: Relay) -> None:
    client = relay.openai(await relay.key())
    assert await routed(client, "cheap") == ("gpt-4.1-nano", "policy:cheapest:cheapest")
    # A key limited to some models gets the cheapest of those.
    limited = relay.openai(await relay.key(allowed_models=["cheap", "claude-*", "gpt-4o"]))
    model, _ = await routed(limited, "cheap")
    assert model == "gpt-4.1-nano"  # the alias was allowed, so its whole pool is
    keyed = relay.openai(
        await relay.key(allowed_models=["claude-*", "gpt-4o"], tags={"relay_policy": "cheapest"})
    )
    assert (await routed(keyed, "auto"))[0] == "claude-3-5-haiku"


async def test_cheapest_skips_models_that_cannot_serve(relay: Relay) -> None:
    # Put a cheaper chat model without tools into the tenant's catalog: it wins plain
    # requests and is skipped for requests with tools.
    written = await relay.client.put(
        "/api/relay/catalog",
        json={
            "models": {
                "bargain": {
                    "context_window": 4096,
                    "price": {"input": "0.01", "output": "0.02"},
                    "capabilities": ["streaming"],
                    "deployments": [{"provider": "backup", "model": "bargain-1"}],
                }
            }
        },
        headers=relay.owner.headers,
    )
    assert written.status_code == 200, written.text
    client = relay.openai(await relay.key())
    assert (await routed(client, "cheap"))[0] == "bargain"
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    assert (await routed(client, "cheap", tools=[tool]))[0] == "gpt-4.1-nano"
    long_prompt = [{"role": "user", "content": "word " * 5000}]
    assert (await routed(client, "cheap", messages=long_prompt))[0] == "gpt-4.1-nano"


async def test_lowest_latency_follows_observed_latency(relay: Relay) -> None:
    client = relay.openai(await relay.key())
    relay.upstreams.openai.delay = relay.upstreams.backup.delay = 0.15
    for model in ("gpt-4.1-nano", "gpt-4o-mini", "claude-3-5-haiku"):
        await routed(client, model)
    # The one deployment not measured yet (backup's gpt-4o-mini) is tried first, once.
    assert await routed(client, "fast") == ("gpt-4o-mini", "policy:fastest:latency")
    model, route = await routed(client, "fast")
    assert (model, route) == ("claude-3-5-haiku", "policy:fastest:latency")
    relay.upstreams.openai.delay = 0.0
    relay.upstreams.anthropic.delay = 0.3
    for _ in range(4):  # the moving average follows the change within a few calls
        await routed(client, "claude-3-5-haiku")
    assert (await routed(client, "fast"))[0] != "claude-3-5-haiku"


async def test_difficulty_sends_easy_prompts_cheap_and_hard_ones_strong(relay: Relay) -> None:
    client = relay.openai(await relay.key())
    model, route = await routed(client, "auto")
    assert model == "gpt-4.1-nano" and route.startswith("policy:difficulty:difficulty:score=")
    assert route.endswith(":easy")
    model, route = await routed(client, "auto", messages=[{"role": "user", "content": HARD_PROMPT}])
    assert route.endswith(":hard") and model == "gpt-4.1"  # the cheapest of the strong tier


async def test_weighted_split(relay: Relay) -> None:
    written = await relay.client.put(
        "/api/relay/catalog",
        json={
            "policies": {
                "canary": {
                    "strategy": "weighted",
                    "weights": {"gpt-4o-mini": 3, "claude-3-5-haiku": 1},
                }
            },
            "aliases": {"canary": {"policy": "canary"}},
        },
        headers=relay.owner.headers,
    )
    assert written.status_code == 200, written.text
    relay.gateway.router.rng = random.Random(7)
    client = relay.openai(await relay.key())
    picks = [(await routed(client, "canary"))[0] for _ in range(40)]
    assert 20 <= picks.count("gpt-4o-mini") <= 38
    assert picks.count("claude-3-5-haiku") == 40 - picks.count("gpt-4o-mini")
    assert (await routed(client, "router/canary"))[1].startswith("policy:canary:weighted:picked=")


async def test_policies_are_listed_per_tenant_and_key(relay: Relay) -> None:
    listed = await relay.client.get("/api/relay/policies", headers=relay.owner.headers)
    assert listed.status_code == 200
    body = listed.json()
    assert body["default"] == "difficulty"
    assert {"cheapest", "fastest", "difficulty"} <= set(body["policies"])
    assert body["aliases"]["smart"]["models"][0] == "claude-sonnet-4"
    key = await relay.key(tags={"relay_policy": "cheapest"})
    as_key = await relay.client.get(
        "/api/relay/policies", headers={"Authorization": f"Bearer {key}"}
    )
    assert as_key.json()["default"] == "cheapest" and as_key.json()["default_source"] == "api_key"


async def test_explicit_model_too_small_for_the_prompt(relay: Relay) -> None:
    client = relay.openai(await relay.key())
    with pytest.raises(openai.BadRequestError) as refused:
        await client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "hi"}],
            max_tokens=200_000,
        )
    assert refused.value.code == "context_length_exceeded"
    assert relay.upstreams.openai.requests() == []
