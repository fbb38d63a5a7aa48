"""Failover, circuit breakers and Retry-After, against upstreams scripted to fail."""

from __future__ import annotations

import asyncio

import openai
import pytest

from auterity.core.clock import FrozenClock
from tests.fixtures.llm_upstreams import Fault
from tests.integration.relaycore.conftest import Relay
from tests.integration.relaycore.test_completion import sample

HELLO = [{"role": "user", "content": "hello"}]


def frozen_breakers(relay: Relay) -> FrozenClock:
    clock = FrozenClock()
    relay.gateway.breakers.now = lambda: clock.now().timestamp()
    return clock


async def breaker_state(relay: Relay, deployment: str) -> str:
    listed = await relay.client.get("/api/relay/providers", headers=relay.owner.headers)
    assert listed.status_code == 200, listed.text
    item = next(i for i in listed.json()["items"] if i["id"] == deployment)
    state: str = item["breaker"]["state"]
    return state


@pytest.mark.parametrize(
    "outage", [Fault(status=503), Fault(status=500), Fault(drop=True)], ids=["503", "500", "drop"]
)
async def test_outage_of_one_provider_fails_no_client_request(relay: Relay, outage: Fault) -> None:
    relay.upstreams.openai.outage = outage
    client = relay.openai(await relay.key())

    async def ask(i: int) -> str:
        answer = await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": f"q{i}"}]
        )
        return answer.choices[0].message.content or ""

    answers = await asyncio.gather(*(ask(i) for i in range(30)))
    assert answers == [f"[backup] q{i}" for i in range(30)]  # 0 failed client requests
    assert await breaker_state(relay, "openai:gpt-4o-mini") == "open"
    # Once open, the broken provider is skipped instead of tried and failed.
    tried = len(relay.upstreams.openai.requests())
    await ask(99)
    assert len(relay.upstreams.openai.requests()) == tried


async def test_timeout_fails_over(relay: Relay) -> None:
    relay.gateway.runtime.settings.relay_timeout_seconds = 0.3
    relay.upstreams.openai.script(Fault(delay=1.0))
    client = relay.openai(await relay.key())
    raw = await client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=HELLO
    )
    assert raw.parse().choices[0].message.content == "[backup] hello"
    assert raw.headers["x-auterity-provider"] == "backup"
    assert raw.headers["x-auterity-route"] == "explicit;failover=1"


async def test_breaker_opens_probes_half_open_and_closes(relay: Relay) -> None:
    clock = frozen_breakers(relay)
    openai_upstream = relay.upstreams.openai
    openai_upstream.outage = Fault(status=503)
    client = relay.openai(await relay.key())
    for _ in range(3):  # the threshold in the test settings
        await client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert await breaker_state(relay, "openai:gpt-4o-mini") == "open"
    gauge = {"provider": "openai", "model": "gpt-4o-mini"}
    assert sample("relay_circuit_breaker_state", **gauge) == 2  # the metric follows
    assert len(openai_upstream.requests()) == 3
    await client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert len(openai_upstream.requests()) == 3  # skipped while open

    clock.advance(31)  # past the cool-down: the next call is a probe
    assert await breaker_state(relay, "openai:gpt-4o-mini") == "half_open"
    await client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert len(openai_upstream.requests()) == 4  # the probe failed ...
    assert await breaker_state(relay, "openai:gpt-4o-mini") == "open"  # ... so open again
    await client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert len(openai_upstream.requests()) == 4

    openai_upstream.outage = None
    clock.advance(31)
    answer = await client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert answer.choices[0].message.content == "[openai] hello"  # the probe succeeded
    assert await breaker_state(relay, "openai:gpt-4o-mini") == "closed"
    assert sample("relay_circuit_breaker_state", **gauge) == 0


async def test_stream_fails_over_before_the_first_byte_only(relay: Relay) -> None:
    client = relay.openai(await relay.key())
    relay.upstreams.openai.script(Fault(status=502))
    stream = await client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, stream=True)
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "[backup] hello"

    relay.upstreams.backup.reset()
    relay.upstreams.openai.script(Fault(drop_after_chunks=2))
    stream = await client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, stream=True)
    received: list[str] = []
    with pytest.raises(openai.APIError):
        async for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")
    assert "".join(received) == "[openai]"  # bytes were out: no failover after them
    assert relay.upstreams.backup.requests() == []


async def test_retry_after_is_waited_out_when_no_other_provider_can_serve(relay: Relay) -> None:
    upstream = relay.upstreams.openai
    upstream.script(Fault(status=429, retry_after_ms=200))
    client = relay.openai(await relay.key())
    answer = await client.chat.completions.create(model="gpt-4.1-nano", messages=HELLO)
    assert answer.choices[0].message.content == "[openai] hello"
    first, second = upstream.requests()
    assert second.at - first.at >= 0.19


async def test_long_retry_after_is_passed_on_and_respected(relay: Relay) -> None:
    upstream = relay.upstreams.anthropic
    upstream.script(Fault(status=429, retry_after="30"))
    client = relay.openai(await relay.key())
    with pytest.raises(openai.RateLimitError) as limited:
        await client.chat.completions.create(model="claude-3-5-haiku", messages=HELLO)
    assert limited.value.response.headers["retry-after"] == "30"
    # The provider asked for 30 s: the gateway does not call it again before then.
    with pytest.raises(openai.APIStatusError) as held:
        await client.chat.completions.create(model="claude-3-5-haiku", messages=HELLO)
    assert held.value.status_code == 503
    assert len(upstream.requests()) == 1


async def test_rate_limited_provider_is_skipped_while_another_serves(relay: Relay) -> None:
    relay.upstreams.openai.script(Fault(status=429, retry_after="30"))
    client = relay.openai(await relay.key())
    for _ in range(3):
        answer = await client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
        assert answer.choices[0].message.content == "[backup] hello"
    assert len(relay.upstreams.openai.requests()) == 1


async def test_provider_and_client_keys_never_reach_the_logs(
    relay: Relay, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level("DEBUG")
    key = await relay.key()
    client = relay.openai(key)
    relay.upstreams.openai.api_key = "something-else"  # our key is refused: logged, not shown
    relay.upstreams.anthropic.outage = Fault(status=500)
    await client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    with pytest.raises(openai.APIStatusError):
        await client.chat.completions.create(model="claude-3-5-haiku", messages=HELLO)
    written = caplog.text + "".join(capfd.readouterr())
    assert "relay_request_failed" in written
    for secret in ("sk-openai-test", "sk-ant-test", "sk-backup-test", key):
        assert secret not in written
