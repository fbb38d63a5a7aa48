"""`/api/llm/conversations`: history kept server-side, the context window managed per model
(drop or summarise the oldest turns), costs added up exactly, errors as problems."""

from __future__ import annotations

from typing import Any

import httpx

from auterity.relaycore.costs import Usage, cost_micros
from auterity.relaycore.llm.turns import SUMMARY_INSTRUCTIONS
from auterity.relaycore.llm.window import SUMMARY_PREFIX
from auterity.relaycore.tokens import count_messages
from tests.fixtures.llm_upstreams import Fault, Seen
from tests.fixtures.llm_upstreams import Usage as ForcedUsage
from tests.integration.identity.conftest import assert_problem, signup
from tests.integration.relaycore.conftest import Relay

CONVERSATIONS = "/api/llm/conversations"
FORCED = ForcedUsage(prompt=1234, completion=567)
TINY_WINDOW = 260
TINY = {
    "context_window": TINY_WINDOW,
    "price": {"input": "1.5", "output": "2.25"},
    "deployments": [{"provider": "openai", "model": "tiny"}],
}
SYSTEM = "You are terse."


def words(turn: int) -> str:
    return f"turn {turn}: " + " ".join(f"w{turn}x{i}" for i in range(12))


async def create(relay: Relay, headers: dict[str, str] | None = None, **body: Any) -> str:
    created = await relay.client.post(
        CONVERSATIONS, json=body, headers=headers or relay.owner.headers
    )
    assert created.status_code == 201, created.text
    assert created.headers["location"] == f"{CONVERSATIONS}/{created.json()['id']}"
    conversation_id: str = created.json()["id"]
    return conversation_id


async def say(
    relay: Relay, conversation_id: str, content: str, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    sent = await relay.client.post(
        f"{CONVERSATIONS}/{conversation_id}/messages",
        json={"content": content},
        headers=headers or relay.owner.headers,
    )
    assert sent.status_code == 201, sent.text
    turn: dict[str, Any] = sent.json()
    return turn


async def show(relay: Relay, conversation_id: str) -> dict[str, Any]:
    shown = await relay.client.get(
        f"{CONVERSATIONS}/{conversation_id}", headers=relay.owner.headers
    )
    assert shown.status_code == 200, shown.text
    body: dict[str, Any] = shown.json()
    return body


def calls(relay: Relay, model: str) -> list[Seen]:
    return [
        seen
        for seen in relay.upstreams.openai.requests("/v1/chat/completions")
        if seen.body["model"] == model
    ]


async def with_tiny_model(relay: Relay) -> None:
    written = await relay.client.put(
        "/api/relay/catalog", json={"models": {"tiny": TINY}}, headers=relay.owner.headers
    )
    assert written.status_code == 200, written.text


def price(relay: Relay, model: str, layer: dict[str, Any] | None = None) -> int:
    catalog = relay.gateway.merged_catalog(layer or {"models": {"tiny": TINY}})
    return cost_micros(catalog.deployments[model][0].price, Usage(1234, 567))


async def usage_cost(relay: Relay) -> int:
    await relay.app.state.relay_accounting.usage.flush()
    report = await relay.client.get("/api/relay/usage", headers=relay.owner.headers)
    return int(sum(row["cost_micros"] for row in report.json()["items"]))


async def test_a_conversation_keeps_its_history_and_its_costs(relay: Relay) -> None:
    relay.upstreams.openai.usage = FORCED
    created = await relay.client.post(
        "/api/api-keys", json={"name": "chat"}, headers=relay.owner.headers
    )
    key = {"Authorization": f"Bearer {created.json()['key']}"}
    conversation_id = await create(
        relay, key, title="Trip", system=SYSTEM, model="gpt-4o-mini", temperature=0.3
    )
    turns = [await say(relay, conversation_id, text, key) for text in ("one", "two", "three")]
    sent = [seen.body for seen in calls(relay, "gpt-4o-mini")]
    assert sent[-1]["messages"] == [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "[openai] one"},
        {"role": "user", "content": "two"},
        {"role": "assistant", "content": "[openai] two"},
        {"role": "user", "content": "three"},
    ]
    assert sent[-1]["temperature"] == 0.3
    each = price(relay, "gpt-4o-mini")
    last = turns[-1]
    assert last["reply"]["content"] == "[openai] three"
    assert last["reply"]["model"] == "gpt-4o-mini" and last["reply"]["cost_micros"] == each
    assert last["cost_micros"] == each and last["route"] == "explicit"
    assert last["window"]["included"] == 4 and last["window"]["dropped"] == 0
    assert last["window"]["summary_used"] is False
    assert last["conversation"]["totals"] == {
        "messages": 6,
        "input_tokens": 3 * 1234,
        "output_tokens": 3 * 567,
        "cost_micros": 3 * each,
        "cost_usd": f"0.00{3 * each}",
        "summary_cost_micros": 0,
    }
    shown = await show(relay, conversation_id)
    assert [m["role"] for m in shown["messages"]] == ["user", "assistant"] * 3
    assert [m["position"] for m in shown["messages"]] == [1, 2, 3, 4, 5, 6]
    assert {m["context"] for m in shown["messages"]} == {"active"}
    assert shown["title"] == "Trip" and shown["system"] == SYSTEM
    # Every turn is a gateway request booked to the key that sent it.
    await relay.app.state.relay_accounting.usage.flush()
    report = await relay.client.get(
        "/api/relay/usage", params={"group_by": "key"}, headers=relay.owner.headers
    )
    (row,) = report.json()["items"]
    assert row["key"] == created.json()["id"]
    assert row["requests"] == 3 and row["cost_micros"] == 3 * each


async def test_drop_leaves_out_the_oldest_turns_but_keeps_the_system_prompt(
    relay: Relay,
) -> None:
    await with_tiny_model(relay)
    relay.upstreams.openai.usage = FORCED
    conversation_id = await create(
        relay, system=SYSTEM, model="tiny", context_strategy="drop", max_tokens=10
    )
    turns = [await say(relay, conversation_id, words(n)) for n in range(1, 6)]
    assert turns[0]["window"] == {
        "strategy": "drop",
        "model_window": TINY_WINDOW,
        "reply_tokens": 10,
        "prompt_tokens": turns[0]["window"]["prompt_tokens"],
        "included": 0,
        "dropped": 0,
        "summarized": 0,
        "summary_used": False,
    }
    assert sum(turn["window"]["dropped"] for turn in turns) > 0
    shown = await show(relay, conversation_id)
    dropped = [m for m in shown["messages"] if m["context"] == "dropped"]
    active = [m for m in shown["messages"] if m["context"] == "active"]
    assert dropped and dropped[0]["content"] == words(1)  # the oldest went first
    assert max(m["position"] for m in dropped) < min(m["position"] for m in active)
    # What the model got: the system prompt, the turns still active, the new message (its
    # answer, the last active message, came after).
    last = calls(relay, "tiny")[-1].body
    assert last["messages"][0] == {"role": "system", "content": SYSTEM}
    assert last["messages"][1:] == [
        {"role": m["role"], "content": m["content"]} for m in active[:-1]
    ]
    assert not any(words(1) in m["content"] for m in last["messages"])
    assert count_messages(last["messages"]) + 10 <= TINY_WINDOW
    assert last["max_tokens"] == 10
    assert turns[-1]["window"]["prompt_tokens"] == count_messages(last["messages"])
    assert calls(relay, "gpt-4.1-nano") == []  # nothing summarised
    each = price(relay, "tiny")
    assert shown["totals"]["cost_micros"] == 5 * each == await usage_cost(relay)


async def test_summarize_folds_the_oldest_turns_into_a_summary_and_counts_its_cost(
    relay: Relay,
) -> None:
    await with_tiny_model(relay)
    relay.upstreams.openai.usage = FORCED
    conversation_id = await create(relay, system=SYSTEM, model="tiny", max_tokens=10)
    turns = [await say(relay, conversation_id, words(n)) for n in range(1, 7)]
    summarised = [turn for turn in turns if turn["summary"] is not None]
    assert len(summarised) >= 2, [turn["window"] for turn in turns]
    first = summarised[0]
    summary = first["summary"]
    assert summary["role"] == "summary" and summary["model"] == "gpt-4.1-nano"  # `cheap`
    assert first["window"]["summarized"] >= 2 and first["window"]["summary_used"] is True
    assert first["window"]["included"] >= 2  # the most recent turn stays as it was
    assert summary["folded"]["first"] == 1

    # The summary was asked of the cheap model with the folded turns...
    asked = calls(relay, "gpt-4.1-nano")
    assert len(asked) == len(summarised)
    assert asked[0].body["messages"][0] == {"role": "system", "content": SUMMARY_INSTRUCTIONS}
    assert asked[0].body["messages"][1]["content"].startswith(f"User: {words(1)}")
    assert asked[0].body["max_tokens"] == TINY_WINDOW // 8
    # ... a later one folds the earlier summary in too ...
    assert "Earlier summary: " in asked[1].body["messages"][1]["content"]
    # ... and the model got the summary in place of the folded turns.
    index = turns.index(first)
    replied = calls(relay, "tiny")[index].body["messages"]
    assert replied[0] == {"role": "system", "content": SYSTEM}
    assert replied[1] == {"role": "system", "content": SUMMARY_PREFIX + summary["content"]}
    assert replied[-1] == {"role": "user", "content": words(index + 1)}
    assert not any(m["content"] == words(1) for m in replied)
    assert count_messages(replied) + 10 <= TINY_WINDOW

    shown = await show(relay, conversation_id)
    states = {m["context"] for m in shown["messages"]}
    assert states == {"active", "summarized"}
    active = [m for m in shown["messages"] if m["context"] == "active"]
    assert [m["role"] for m in active].count("summary") == 1  # the newest; older ones folded
    # Costs in whole micro-dollars: every reply and every summary, nothing lost.
    reply_cost, summary_cost = price(relay, "tiny"), price(relay, "gpt-4.1-nano")
    expected = 6 * reply_cost + len(summarised) * summary_cost
    totals = shown["totals"]
    assert totals["cost_micros"] == expected == sum(m["cost_micros"] for m in shown["messages"])
    assert totals["summary_cost_micros"] == len(summarised) * summary_cost
    assert first["cost_micros"] == reply_cost + summary_cost
    assert totals["input_tokens"] == (6 + len(summarised)) * 1234
    assert totals["messages"] == 12 + len(summarised)
    assert await usage_cost(relay) == expected


async def test_list_page_and_delete(relay: Relay) -> None:
    ids = [await create(relay, title=f"c{n}") for n in range(3)]
    page = await relay.client.get(CONVERSATIONS, params={"limit": 2}, headers=relay.owner.headers)
    assert [c["id"] for c in page.json()["items"]] == ids[:0:-1]
    rest = await relay.client.get(
        CONVERSATIONS,
        params={"limit": 2, "cursor": page.json()["next_cursor"]},
        headers=relay.owner.headers,
    )
    assert [c["id"] for c in rest.json()["items"]] == ids[:1]
    assert rest.json()["next_cursor"] is None
    assert rest.json()["items"][0]["messages"] is None  # lists leave messages out
    other = await signup(relay.client)
    theirs = await relay.client.get(CONVERSATIONS, headers=other.headers)
    assert theirs.json()["items"] == []
    await say(relay, ids[0], "hello")
    deleted = await relay.client.delete(f"{CONVERSATIONS}/{ids[0]}", headers=relay.owner.headers)
    assert deleted.status_code == 204
    gone = await relay.client.get(f"{CONVERSATIONS}/{ids[0]}", headers=relay.owner.headers)
    assert_problem(gone, 404)


async def test_errors_are_problems_and_a_failed_turn_stores_nothing(relay: Relay) -> None:
    headers = relay.owner.headers
    missing = await relay.client.post(
        f"{CONVERSATIONS}/0190c3a8-0000-7000-8000-000000000000/messages",
        json={"content": "hi"},
        headers=headers,
    )
    assert "does not exist" in assert_problem(missing, 404)["detail"]
    bad_id = await relay.client.get(f"{CONVERSATIONS}/not-a-uuid", headers=headers)
    assert assert_problem(bad_id, 422)["errors"][0]["pointer"] == "/path/conversation_id"
    wrong_strategy = await relay.client.post(
        CONVERSATIONS, json={"context_strategy": "forget"}, headers=headers
    )
    assert assert_problem(wrong_strategy, 422)["errors"][0]["pointer"] == "/context_strategy"
    unknown_model = await relay.client.post(CONVERSATIONS, json={"model": "gpt-9"}, headers=headers)
    assert assert_problem(unknown_model, 422)["errors"][0]["pointer"] == "/model"

    await with_tiny_model(relay)
    conversation_id = await create(relay, model="tiny", max_tokens=10)
    empty = await relay.client.post(
        f"{CONVERSATIONS}/{conversation_id}/messages", json={"content": ""}, headers=headers
    )
    assert assert_problem(empty, 422)["errors"][0]["pointer"] == "/content"
    too_long = await relay.client.post(
        f"{CONVERSATIONS}/{conversation_id}/messages",
        json={"content": " ".join(["word"] * 400)},
        headers=headers,
    )
    problem = assert_problem(too_long, 400)
    assert problem["type"].endswith("/context-length-exceeded")
    assert "'tiny'" in problem["detail"] and str(TINY_WINDOW) in problem["detail"]

    await say(relay, conversation_id, "first")
    relay.upstreams.openai.script(Fault(status=503))
    failed = await relay.client.post(
        f"{CONVERSATIONS}/{conversation_id}/messages", json={"content": "second"}, headers=headers
    )
    assert "failed" in assert_problem(failed, 502)["detail"]
    refused = await relay.client.post(
        f"{CONVERSATIONS}/{conversation_id}/messages",
        json={"content": "third", "max_cost_usd": "0.000001"},
        headers=headers,
    )
    assert_problem(refused, 402)
    shown = await show(relay, conversation_id)
    assert [m["content"] for m in shown["messages"]] == ["first", "[openai] first"]
    assert shown["totals"]["messages"] == 2


async def test_routing_hints_and_a_per_turn_model(relay: Relay) -> None:
    conversation_id = await create(relay, policy="cheapest")
    turn = await say(relay, conversation_id, "hi")
    assert turn["reply"]["model"] == "gpt-4.1-nano"
    assert turn["route"].startswith("policy:cheapest")
    switched = await relay.client.post(
        f"{CONVERSATIONS}/{conversation_id}/messages",
        json={"content": "think hard", "model": "smart"},
        headers=relay.owner.headers,
    )
    assert switched.status_code == 201, switched.text
    assert switched.json()["reply"]["content"] == "[anthropic] think hard"
    shown = await show(relay, conversation_id)
    assert shown["model"] == "router/cheapest"
    assert [m["model"] for m in shown["messages"]] == [
        None,
        "gpt-4.1-nano",
        None,
        "claude-sonnet-4",
    ]


async def test_one_conversation_per_tenant(relay: Relay, client: httpx.AsyncClient) -> None:
    conversation_id = await create(relay, title="mine")
    other = await signup(relay.client)
    for method, path, body in (
        ("GET", f"{CONVERSATIONS}/{conversation_id}", None),
        ("DELETE", f"{CONVERSATIONS}/{conversation_id}", None),
        ("POST", f"{CONVERSATIONS}/{conversation_id}/messages", {"content": "hi"}),
    ):
        response = await relay.client.request(method, path, json=body, headers=other.headers)
        assert_problem(response, 404)
    assert relay.upstreams.openai.requests() == []
    assert (await show(relay, conversation_id))["title"] == "mine"
