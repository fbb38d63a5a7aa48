"""The official `openai` SDK against RelayCore: chat, streams, tools, JSON, embeddings, errors."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from auterity.relaycore.catalog import build_catalog, merge, shipped_document
from auterity.relaycore.costs import Usage, cost_micros, format_usd
from tests.fixtures.llm_upstreams import Usage as ForcedUsage
from tests.integration.relaycore.conftest import Relay

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city"],
        },
    },
}


async def test_chat_completion_through_openai_sdk(relay: Relay) -> None:
    client = relay.openai(await relay.key())
    raw = await client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hello there"},
        ],
        user="customer-7",
        metadata={"purpose": "test"},
        extra_headers={"X-Auterity-Workflow": "wf-1", "X-Auterity-Run": "run-9"},
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == "[openai] hello there"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.completion_tokens == 3
    assert raw.headers["x-auterity-model"] == "gpt-4o-mini"
    assert raw.headers["x-auterity-provider"] == "openai"
    assert raw.headers["x-auterity-route"] == "explicit"
    assert raw.headers["x-request-id"]
    float(raw.headers["x-auterity-cost-usd"])
    sent = relay.upstreams.openai.requests("/v1/chat/completions")[-1]
    assert sent.headers["authorization"] == "Bearer sk-openai-test"
    assert sent.body["user"] == "customer-7" and sent.body["metadata"] == {"purpose": "test"}
    assert sent.body["model"] == "gpt-4o-mini"


async def test_n_stop_and_max_tokens_reach_the_provider(relay: Relay) -> None:
    client = relay.openai(await relay.key())
    several = await client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "one two"}], n=3
    )
    assert [c.index for c in several.choices] == [0, 1, 2]
    stopped = await client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "alpha STOP beta"}],
        stop=["STOP"],
    )
    assert stopped.choices[0].message.content == "[openai] alpha "
    cut = await client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "a b c d e f"}],
        max_completion_tokens=2,
    )
    assert cut.choices[0].finish_reason == "length"
    assert relay.upstreams.openai.requests()[-1].body["max_completion_tokens"] == 2


async def test_streaming_with_and_without_usage(relay: Relay) -> None:
    client = relay.openai(await relay.key())
    stream = await client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "stream me please"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "[openai] stream me please"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 4
    plain = await client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "again"}], stream=True
    )
    plain_chunks = [chunk async for chunk in plain]
    assert all(c.usage is None for c in plain_chunks)
    assert plain_chunks[-1].choices[0].finish_reason == "stop"
    # Upstream is always asked for usage, so every stream can be priced.
    assert relay.upstreams.openai.requests()[-1].body["stream_options"] == {"include_usage": True}


async def test_tool_calls_round_trip_openai_and_anthropic(relay: Relay) -> None:
    client = relay.openai(await relay.key())
    for model in ("gpt-4o-mini", "claude-3-5-haiku"):
        first = await client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "weather in Paris?"}],
            tools=[WEATHER_TOOL],  # type: ignore[list-item]
        )
        call = first.choices[0].message.tool_calls[0]  # type: ignore[index]
        assert first.choices[0].finish_reason == "tool_calls", model
        assert call.function.name == "get_weather"  # type: ignore[union-attr]
        assert json.loads(call.function.arguments) == {"city": "Paris", "days": 2}  # type: ignore[union-attr]
        second = await client.chat.completions.create(
            model=model,
            messages=[
                {"role": "user", "content": "weather in Paris?"},
                first.choices[0].message.model_dump(exclude_none=True),  # type: ignore[list-item]
                {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
            ],
            tools=[WEATHER_TOOL],  # type: ignore[list-item]
        )
        assert second.choices[0].message.content is not None
        assert "tool said: sunny" in second.choices[0].message.content, model
    sent = relay.upstreams.anthropic.requests("/v1/messages")[-1].body
    assert sent["tools"][0]["input_schema"]["required"] == ["city"]
    assert sent["messages"][1]["content"][0]["type"] == "tool_use"
    assert sent["messages"][2]["content"][0] == {
        "type": "tool_result",
        "tool_use_id": call.id,
        "content": "sunny",
    }


async def test_streamed_tool_calls_from_anthropic_arrive_as_openai_chunks(relay: Relay) -> None:
    client = relay.openai(await relay.key())
    stream = await client.chat.completions.create(
        model="claude-3-5-haiku",
        messages=[{"role": "user", "content": "weather?"}],
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
        stream=True,
    )
    chunks = [chunk async for chunk in stream]
    calls = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or []]
    assert calls[0].id and calls[0].function.name == "get_weather"  # type: ignore[union-attr]
    arguments = "".join(tc.function.arguments or "" for tc in calls)  # type: ignore[union-attr]
    assert json.loads(arguments) == {"city": "Paris", "days": 2}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


async def test_json_schema_output_from_anthropic_uses_a_forced_tool(relay: Relay) -> None:
    client = relay.openai(await relay.key())
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    answer = await client.chat.completions.create(
        model="claude-3-5-haiku",
        messages=[{"role": "user", "content": "which city?"}],
        response_format={"type": "json_schema", "json_schema": {"name": "city", "schema": schema}},
    )
    assert json.loads(answer.choices[0].message.content or "") == {"city": "Paris"}
    assert answer.choices[0].finish_reason == "stop"
    sent = relay.upstreams.anthropic.requests()[-1].body
    assert sent["tool_choice"] == {"type": "tool", "name": "json_response"}
    as_object = await client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "x"}],
        response_format={"type": "json_object"},
    )
    assert json.loads(as_object.choices[0].message.content or "")["answer"] == "[openai] x"


async def test_embeddings_as_floats_and_base64(relay: Relay) -> None:
    client = relay.openai(await relay.key())
    default = await client.embeddings.create(model="text-embedding-3-small", input=["a b", "c"])
    floats = await client.embeddings.create(
        model="text-embedding-3-small", input="a b", encoding_format="float"
    )
    assert len(default.data) == 2 and len(default.data[0].embedding) == 8
    assert default.data[0].embedding == pytest.approx(floats.data[0].embedding)
    assert default.usage.prompt_tokens == 3


async def test_models_lists_what_the_key_may_use(relay: Relay) -> None:
    everything = {m.id async for m in relay.openai(await relay.key()).models.list()}
    assert {"gpt-4o-mini", "claude-3-5-haiku", "smart", "cheap", "auto"} <= everything
    limited = relay.openai(await relay.key(allowed_models=["gpt-4o*", "cheap"]))
    assert {m.id async for m in limited.models.list()} == {"gpt-4o", "gpt-4o-mini", "cheap"}


async def test_errors_arrive_in_openai_format(relay: Relay) -> None:
    client = relay.openai(await relay.key(allowed_models=["gpt-4o-mini"]))
    with pytest.raises(openai.AuthenticationError) as unauthenticated:
        await relay.openai("ak_nope_nope").chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
        )
    assert unauthenticated.value.body["type"] == "authentication_error"  # type: ignore[index]
    with pytest.raises(openai.PermissionDeniedError) as denied:
        await client.chat.completions.create(
            model="claude-3-5-haiku", messages=[{"role": "user", "content": "x"}]
        )
    assert denied.value.code == "model_not_allowed"
    with pytest.raises(openai.NotFoundError) as missing:
        await relay.openai(await relay.key()).chat.completions.create(
            model="no-such-model", messages=[{"role": "user", "content": "x"}]
        )
    assert missing.value.code == "model_not_found" and missing.value.param == "model"
    with pytest.raises(openai.UnprocessableEntityError) as invalid:
        await client.chat.completions.create(model="gpt-4o-mini", messages=[])
    assert invalid.value.param == "messages"
    relay.upstreams.openai.script(*[_bad_request()])
    with pytest.raises(openai.BadRequestError) as rejected:
        await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
        )
    # A 4xx the client caused is passed on, not failed over.
    assert rejected.value.code == "invalid_value" and rejected.value.param == "messages"
    assert relay.upstreams.backup.requests() == []
    raw = await relay.client.post(
        "/v1/chat/completions",
        content=b"{oops",
        headers={"Authorization": f"Bearer {await relay.key()}"},
    )
    assert raw.status_code == 400 and raw.json()["error"]["type"] == "invalid_request_error"
    assert raw.headers["x-auterity-cost-usd"] == "0.000000"


def _bad_request():  # type: ignore[no-untyped-def]
    from tests.fixtures.llm_upstreams import Fault

    return Fault(status=400)


async def test_cost_header_is_exact_integer_arithmetic(relay: Relay) -> None:
    relay.upstreams.openai.usage = ForcedUsage(prompt=1_234_567, completion=89_012, cached=200_000)
    client = relay.openai(await relay.key())
    raw = await client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "price me"}]
    )
    # gpt-4o-mini: $0.15 input, $0.075 cached input, $0.60 output per 1M tokens.
    # (1,034,567 x 0.15 + 200,000 x 0.075 + 89,012 x 0.60) / 1M = $0.22359225
    assert raw.headers["x-auterity-cost-usd"] == "0.223592"
    catalog = build_catalog(merge(shipped_document(), {}))
    price = catalog.deployments["gpt-4o-mini"][0].price
    usage = Usage(prompt_tokens=1_234_567, completion_tokens=89_012, cached_tokens=200_000)
    assert format_usd(cost_micros(price, usage)) == "0.223592"


async def test_stream_headers_name_the_route_and_the_prompt_cost(relay: Relay) -> None:
    key = await relay.key()
    async with (
        httpx.AsyncClient(base_url=relay.url) as http,
        http.stream(
            "POST",
            "/v1/chat/completions",
            json={"model": "gpt-4o", "stream": True, "messages": HELLO_LONG},
            headers={"Authorization": f"Bearer {key}"},
        ) as response,
    ):
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["x-auterity-model"] == "gpt-4o"
        assert response.headers["x-auterity-route"] == "explicit"
        # ~1,000 prompt tokens at $2.50 per 1M: the prompt's cost, known before the answer.
        assert 0.0024 < float(response.headers["x-auterity-cost-usd"]) < 0.0026
        lines = [line async for line in response.aiter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    assert all(line.startswith("data: ") for line in lines)


HELLO_LONG = [{"role": "user", "content": "hello " * 995}]
