"""The official `anthropic` SDK against RelayCore's `/v1/messages`, served by any provider."""

from __future__ import annotations

import anthropic
import pytest

from tests.integration.relaycore.conftest import Relay

WEATHER = {
    "name": "get_weather",
    "description": "Weather in a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


@pytest.mark.parametrize(
    ("model", "served_by"), [("claude-3-5-haiku", "anthropic"), ("gpt-4o-mini", "openai")]
)
async def test_messages_through_anthropic_sdk(relay: Relay, model: str, served_by: str) -> None:
    client = relay.anthropic(await relay.key())
    raw = await client.messages.with_raw_response.create(
        model=model,
        max_tokens=100,
        system="Be brief.",
        messages=[{"role": "user", "content": "hello there"}],
    )
    message = await raw.parse()
    assert message.content[0].type == "text"
    assert message.content[0].text == f"[{served_by}] hello there"
    assert message.stop_reason == "end_turn"
    assert message.usage.output_tokens == 3
    assert raw.headers["x-auterity-provider"] == served_by
    assert raw.headers["x-auterity-model"] == model


async def test_anthropic_key_header_authenticates(relay: Relay) -> None:
    # The SDK sends the key as `x-api-key`, never as a bearer token.
    client = relay.anthropic(await relay.key())
    await client.messages.create(
        model="claude-3-5-haiku", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
    )
    sent = relay.upstreams.anthropic.requests("/v1/messages")[-1]
    assert sent.headers["x-api-key"] == "sk-ant-test"
    assert sent.headers["anthropic-version"] == "2023-06-01"


@pytest.mark.parametrize("model", ["claude-3-5-haiku", "gpt-4o-mini"])
async def test_streaming_events_through_anthropic_sdk(relay: Relay, model: str) -> None:
    client = relay.anthropic(await relay.key())
    async with client.messages.stream(
        model=model, max_tokens=100, messages=[{"role": "user", "content": "stream this"}]
    ) as stream:
        text = "".join([piece async for piece in stream.text_stream])
        final = await stream.get_final_message()
    assert text.endswith("stream this") and text.startswith("[")
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 3


@pytest.mark.parametrize("model", ["claude-3-5-haiku", "gpt-4o-mini"])
async def test_tool_use_through_anthropic_sdk(relay: Relay, model: str) -> None:
    client = relay.anthropic(await relay.key())
    first = await client.messages.create(
        model=model,
        max_tokens=100,
        tools=[WEATHER],  # type: ignore[list-item]
        messages=[{"role": "user", "content": "weather in Paris?"}],
    )
    assert first.stop_reason == "tool_use"
    use = first.content[-1]
    assert use.type == "tool_use" and use.name == "get_weather" and use.input == {"city": "Paris"}
    second = await client.messages.create(
        model=model,
        max_tokens=100,
        tools=[WEATHER],  # type: ignore[list-item]
        messages=[
            {"role": "user", "content": "weather in Paris?"},
            {"role": "assistant", "content": [b.model_dump() for b in first.content]},  # type: ignore[misc]
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "sunny"}],
            },
        ],
    )
    assert second.content[0].type == "text" and "tool said: sunny" in second.content[0].text
    async with client.messages.stream(
        model=model,
        max_tokens=100,
        tools=[WEATHER],  # type: ignore[list-item]
        messages=[{"role": "user", "content": "weather?"}],
    ) as stream:
        final = await stream.get_final_message()
    assert final.content[-1].type == "tool_use" and final.content[-1].input == {"city": "Paris"}


async def test_errors_arrive_in_anthropic_format(relay: Relay) -> None:
    with pytest.raises(anthropic.AuthenticationError) as unauthenticated:
        await relay.anthropic("ak_bad_key").messages.create(
            model="claude-3-5-haiku", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
    assert unauthenticated.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    client = relay.anthropic(await relay.key(allowed_models=["gpt-4o-mini"]))
    with pytest.raises(anthropic.PermissionDeniedError):
        await client.messages.create(
            model="claude-3-5-haiku", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
    with pytest.raises(anthropic.NotFoundError) as missing:
        await relay.anthropic(await relay.key()).messages.create(
            model="claude-nope", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
    assert missing.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
    raw = await relay.client.post(
        "/v1/messages",
        json={"model": "claude-3-5-haiku", "messages": [{"role": "user", "content": "x"}]},
        headers={"x-api-key": await relay.key()},
    )
    assert raw.status_code == 422
    assert raw.json()["type"] == "error" and "max_tokens" in raw.json()["error"]["message"]
