"""`POST /api/llm/completions`: the platform's own completion call, through the gateway's
pipeline (routing hints, the cost ceiling, budgets, rate limits, usage) with RFC 9457 errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from auterity.core.database import Database
from auterity.core.settings import Settings
from auterity.relaycore.costs import Usage, cost_micros
from auterity.relaycore.providers.local import local_model_installed
from tests.fixtures.llm_upstreams import Fault, Upstreams
from tests.fixtures.llm_upstreams import Usage as ForcedUsage
from tests.integration.identity.conftest import add_member, assert_problem
from tests.integration.relaycore.conftest import Relay, serve_relay

COMPLETIONS = "/api/llm/completions"
FORCED = ForcedUsage(prompt=1000, completion=500)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def price_of(relay: Relay, model: str) -> Any:
    return relay.gateway.catalog.deployments[model][0].price


async def complete(relay: Relay, headers: dict[str, str], **body: Any) -> httpx.Response:
    return await relay.client.post(COMPLETIONS, json=body, headers=headers)


async def test_a_prompt_is_answered_priced_and_booked_to_the_key(relay: Relay) -> None:
    relay.upstreams.openai.usage = FORCED
    created = await relay.client.post(
        "/api/api-keys", json={"name": "llm"}, headers=relay.owner.headers
    )
    key, key_id = created.json()["key"], created.json()["id"]
    answered = await complete(
        relay,
        bearer(key),
        prompt="hello there",
        system="Be brief.",
        model="gpt-4o-mini",
        max_tokens=50,
        temperature=0.2,
    )
    assert answered.status_code == 200, answered.text
    body = answered.json()
    expected = cost_micros(price_of(relay, "gpt-4o-mini"), Usage(1000, 500))
    assert body["text"] == "[openai] hello there"
    assert body["model"] == "gpt-4o-mini" and body["provider"] == "openai"
    assert body["route"] == "explicit"
    assert body["usage"] == {
        "input_tokens": 1000,
        "output_tokens": 500,
        "cached_tokens": 0,
        "total_tokens": 1500,
    }
    assert body["cost_micros"] == expected and body["cost_usd"] == f"0.000{expected}"
    assert body["request_id"] == answered.headers["x-request-id"]
    assert answered.headers["x-auterity-cost-usd"] == body["cost_usd"]
    (seen,) = relay.upstreams.openai.requests("/v1/chat/completions")
    assert seen.body["model"] == "gpt-4o-mini"
    assert seen.body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hello there"},
    ]
    assert seen.body["max_tokens"] == 50 and seen.body["temperature"] == 0.2

    await relay.app.state.relay_accounting.usage.flush()
    report = await relay.client.get(
        "/api/relay/usage", params={"group_by": "key"}, headers=relay.owner.headers
    )
    (row,) = report.json()["items"]
    assert row["key"] == key_id and row["requests"] == 1 and row["cost_micros"] == expected


async def test_messages_and_a_users_token_work_too(relay: Relay) -> None:
    answered = await complete(
        relay,
        relay.owner.headers,
        messages=[
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "second"},
        ],
    )
    assert answered.status_code == 200, answered.text
    assert answered.json()["text"] == "[openai] second"  # the test catalog's default model
    (seen,) = relay.upstreams.openai.requests("/v1/chat/completions")
    assert [m["content"] for m in seen.body["messages"]] == ["first", "ok", "second"]


async def test_routing_hints_pick_the_model(relay: Relay) -> None:
    headers = relay.owner.headers
    smart = await complete(relay, headers, prompt="think", model="smart")
    assert smart.status_code == 200, smart.text
    assert smart.json()["model"] == "claude-sonnet-4"
    assert smart.json()["text"] == "[anthropic] think"
    assert smart.json()["route"] == "alias:smart"
    cheapest = await complete(relay, headers, prompt="save", policy="cheapest")
    assert cheapest.status_code == 200, cheapest.text
    assert cheapest.json()["model"] == "gpt-4.1-nano"
    assert cheapest.json()["route"].startswith("policy:cheapest")
    # A capability the only named model lacks cannot be had.
    layer = {
        "models": {
            "plain": {
                "context_window": 8000,
                "price": {"input": "0.01", "output": "0.01"},
                "deployments": [{"provider": "openai", "model": "plain"}],
            }
        }
    }
    written = await relay.client.put("/api/relay/catalog", json=layer, headers=headers)
    assert written.status_code == 200, written.text
    lacking = await complete(relay, headers, prompt="x", model="plain", needs=["json_schema"])
    assert "json_schema" in assert_problem(lacking, 400)["detail"]
    structured = await complete(
        relay,
        headers,
        prompt="give json",
        policy="cheapest",
        json_schema={"type": "object", "properties": {"answer": {"type": "string"}}},
    )
    assert structured.status_code == 200, structured.text
    assert structured.json()["model"] == "gpt-4.1-nano"  # `plain` is cheaper but cannot
    assert structured.json()["json"] == {"answer": "[openai] give json"}


async def test_max_cost_picks_a_cheaper_candidate_or_refuses(relay: Relay) -> None:
    headers = relay.owner.headers
    # `smart` tries claude-sonnet-4 ($3/$15), gpt-4.1 ($2/$8), gpt-4o ($2.5/$10). With 100
    # tokens out: about 1524, 816 and 1020 micro-dollars.
    within = await complete(
        relay, headers, prompt="hi", model="smart", max_tokens=100, max_cost_usd="0.0009"
    )
    assert within.status_code == 200, within.text
    assert within.json()["model"] == "gpt-4.1"
    assert within.json()["route"] == "alias:smart;max_cost"
    assert relay.upstreams.anthropic.requests() == []
    refused = await complete(
        relay, headers, prompt="hi", model="smart", max_tokens=100, max_cost_usd="0.0005"
    )
    problem = assert_problem(refused, 402)
    assert problem["type"].endswith("/max-cost-exceeded")
    assert problem["max_cost_usd"] == "0.000500" and problem["model"] == "gpt-4.1"
    assert "max_cost_usd" in problem["detail"] and "0.000500" in problem["detail"]
    assert len(relay.upstreams.openai.requests("/v1/chat/completions")) == 1
    # Without max_tokens the ceiling counts 1024 tokens out, and the answer is held to it.
    capped = await complete(relay, headers, prompt="hi", model="gpt-4o-mini", max_cost_usd="0.01")
    assert capped.status_code == 200, capped.text
    assert relay.upstreams.openai.requests("/v1/chat/completions")[-1].body["max_tokens"] == 1024


async def test_bad_bodies_are_422_naming_the_field(relay: Relay) -> None:
    headers = relay.owner.headers
    neither = await complete(relay, headers, system="x")
    assert "prompt or messages" in assert_problem(neither, 422)["detail"]
    both = await complete(relay, headers, prompt="x", model="gpt-4o-mini", policy="cheapest")
    assert "model or policy" in assert_problem(both, 422)["detail"]
    typo = await complete(relay, headers, prompt="x", max_token=5)
    assert assert_problem(typo, 422)["errors"][0]["pointer"] == "/max_token"
    negative = await complete(relay, headers, prompt="x", max_cost_usd="-1")
    assert assert_problem(negative, 422)["errors"][0]["pointer"] == "/max_cost_usd"
    unknown = await complete(relay, headers, prompt="x", model="gpt-9")
    problem = assert_problem(unknown, 422)
    assert problem["errors"][0]["pointer"] == "/model" and "gpt-9" in problem["detail"]
    no_policy = await complete(relay, headers, prompt="x", policy="nope")
    assert "nope" in assert_problem(no_policy, 422)["detail"]
    assert relay.upstreams.openai.requests() == []


async def test_who_may_call(relay: Relay) -> None:
    anonymous = await complete(relay, {}, prompt="x")
    assert_problem(anonymous, 401)
    viewer = await add_member(relay.client, relay.owner, "viewer")
    refused = await complete(relay, viewer.headers, prompt="x")
    assert "relay:use" in assert_problem(refused, 403)["detail"]
    editor = await add_member(relay.client, relay.owner, "editor")
    assert (await complete(relay, editor.headers, prompt="x")).status_code == 200


async def test_upstream_failures_are_problems(relay: Relay) -> None:
    headers = relay.owner.headers
    for upstream in (relay.upstreams.openai, relay.upstreams.backup):
        upstream.script(Fault(status=500))
    failed = await complete(relay, headers, prompt="x", model="gpt-4o-mini")
    problem = assert_problem(failed, 502)
    assert "server had an error" in problem["detail"]
    for upstream in (relay.upstreams.openai, relay.upstreams.backup):
        upstream.script(Fault(status=429, retry_after="7"))
    limited = await complete(relay, headers, prompt="x", model="gpt-4o-mini")
    assert "rate limit" in assert_problem(limited, 429)["detail"]
    assert limited.headers["retry-after"] == "7"
    relay.upstreams.openai.script(Fault(status=400))
    rejected = await complete(relay, headers, prompt="x", model="gpt-4.1-nano")
    problem = assert_problem(rejected, 400)
    assert problem["type"].endswith("/provider-refused-request")
    assert problem["errors"][0]["pointer"] == "/messages"


async def test_budgets_and_rate_limits_apply(relay: Relay) -> None:
    headers = relay.owner.headers
    relay.upstreams.openai.usage = FORCED
    spent = cost_micros(price_of(relay, "gpt-4o-mini"), Usage(1000, 500))
    created = await relay.client.post(
        "/api/relay/budgets",
        json={"name": "small", "scope": "tenant", "period": "day", "limit_micros": spent},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    first = await complete(relay, headers, prompt="x", model="gpt-4o-mini", max_tokens=10)
    assert first.status_code == 200, first.text
    over = await complete(relay, headers, prompt="x", model="gpt-4o-mini", max_tokens=10)
    assert "'small'" in assert_problem(over, 402)["detail"]

    await relay.client.delete(f"/api/relay/budgets/{created.json()['id']}", headers=headers)
    limits = {"tenant_limits": {"requests_per_minute": 1}}
    patched = await relay.client.patch(
        "/api/tenant/settings", json={"relay": limits}, headers=headers
    )
    assert patched.status_code == 200, patched.text
    allowed = await complete(relay, headers, prompt="x", model="gpt-4o-mini")
    assert allowed.status_code == 200, allowed.text
    assert allowed.headers["x-ratelimit-remaining-requests"] == "0"
    limited = await complete(relay, headers, prompt="x", model="gpt-4o-mini")
    assert_problem(limited, 429)
    assert int(limited.headers["retry-after"]) >= 1


@pytest.fixture
async def embedded(settings: Settings, db: Database, upstreams: Upstreams) -> AsyncIterator[Relay]:
    plain = settings.model_copy(update={"services": ["relaycore"]})
    async with serve_relay(plain, db, upstreams) as served:
        yield served


@pytest.mark.skipif(
    not local_model_installed("chat"),
    reason="the bundled local chat model (the `local` extra) is not installed",
)
async def test_the_bundled_local_model_answers_free(embedded: Relay) -> None:
    answered = await complete(
        embedded, embedded.owner.headers, prompt="Say hi.", model="local", max_tokens=8
    )
    assert answered.status_code == 200, answered.text
    body = answered.json()
    assert body["text"] and body["model"] == "local/smollm2-135m-instruct"
    assert body["provider"] == "local" and body["cost_micros"] == 0
    assert body["usage"]["output_tokens"] > 0
