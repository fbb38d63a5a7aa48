"""Tenants' own catalog layers: isolation, their own providers and keys, the SSRF guard."""

from __future__ import annotations

import openai
import pytest

from tests.integration.identity.conftest import assert_problem, signup
from tests.integration.relaycore.conftest import Relay


async def test_a_tenants_catalog_is_its_own(relay: Relay) -> None:
    other = await signup(relay.client)
    written = await relay.client.put(
        "/api/relay/catalog",
        json={
            "aliases": {"house": {"models": ["claude-3-5-haiku"]}},
            "models": {"gpt-4o-mini": {"price": {"input": "100", "output": "100"}}},
        },
        headers=relay.owner.headers,
    )
    assert written.status_code == 200, written.text
    mine = relay.openai(await relay.key())
    theirs = relay.openai(await relay.key(other))
    assert "house" in {m.id async for m in mine.models.list()}
    assert "house" not in {m.id async for m in theirs.models.list()}
    answer = await mine.chat.completions.create(
        model="house", messages=[{"role": "user", "content": "hi"}]
    )
    assert answer.choices[0].message.content == "[anthropic] hi"
    with pytest.raises(openai.NotFoundError):
        await theirs.chat.completions.create(
            model="house", messages=[{"role": "user", "content": "hi"}]
        )
    # The price override is this tenant's alone: 2 words in, 2 out.
    priced = []
    for client in (mine, theirs):
        raw = await client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
        priced.append(raw.headers["x-auterity-cost-usd"])
    assert priced == ["0.000300", "0.000001"]
    shown = await relay.client.get("/api/relay/catalog", headers=other.headers)
    assert shown.json()["tenant"] == {}


async def test_tenant_provider_uses_its_own_secret_and_the_ssrf_guard(relay: Relay) -> None:
    written = await relay.client.put(
        "/api/relay/catalog",
        json={
            "providers": {
                "mine": {
                    "kind": "compatible",
                    "base_url": f"{relay.upstreams.backup.url}/v1",
                    "api_key_secret": "MY_LLM_KEY",
                }
            },
            "models": {
                "my-model": {
                    "context_window": 8000,
                    "price": {"input": "1", "output": "1"},
                    "deployments": [{"provider": "mine", "model": "gpt-4o-mini"}],
                }
            },
        },
        headers=relay.owner.headers,
    )
    assert written.status_code == 200, written.text
    client = relay.openai(await relay.key())
    # A tenant's provider is not the operator's: loopback is refused by the SSRF guard.
    with pytest.raises(openai.APIStatusError) as blocked:
        await client.chat.completions.create(
            model="my-model", messages=[{"role": "user", "content": "hi"}]
        )
    assert blocked.value.status_code == 503
    assert "MY_LLM_KEY" in str(blocked.value.message)  # the missing secret is named first
    saved = await relay.client.put(
        "/api/secrets/MY_LLM_KEY", json={"value": "sk-backup-test"}, headers=relay.owner.headers
    )
    assert saved.status_code in (200, 201), saved.text
    with pytest.raises(openai.APIStatusError) as guarded:
        await client.chat.completions.create(
            model="my-model", messages=[{"role": "user", "content": "hi"}]
        )
    assert guarded.value.status_code == 503 and "loopback" in str(guarded.value.message)
    assert relay.upstreams.backup.requests() == []
    # The tenant's own SSRF exceptions apply to the providers it defines.
    allowed = await relay.client.patch(
        "/api/tenant/settings",
        json={"http": {"allowed_private_networks": ["127.0.0.1/32"]}},
        headers=relay.owner.headers,
    )
    assert allowed.status_code == 200, allowed.text
    answer = await client.chat.completions.create(
        model="my-model", messages=[{"role": "user", "content": "hi"}]
    )
    assert answer.choices[0].message.content == "[backup] hi"
    sent = relay.upstreams.backup.requests()[-1]
    assert sent.headers["authorization"] == "Bearer sk-backup-test"  # the tenant's secret


async def test_tenant_cannot_take_over_operator_providers(relay: Relay) -> None:
    hijack = await relay.client.put(
        "/api/relay/catalog",
        json={"providers": {"openai": {"kind": "openai", "base_url": "https://evil.example/v1"}}},
        headers=relay.owner.headers,
    )
    body = assert_problem(hijack, 422)
    assert body["errors"][0]["pointer"] == "/providers/openai"
    dangling = await relay.client.put(
        "/api/relay/catalog",
        json={"aliases": {"x": {"models": ["nope"]}}},
        headers=relay.owner.headers,
    )
    assert assert_problem(dangling, 422)["errors"][0]["pointer"] == "/aliases/x/models"


async def test_catalog_changes_need_relay_admin(relay: Relay) -> None:
    key = await relay.key()  # relay:use only
    refused = await relay.client.put(
        "/api/relay/catalog", json={}, headers={"Authorization": f"Bearer {key}"}
    )
    assert_problem(refused, 403)
    providers = await relay.client.get(
        "/api/relay/providers", headers={"Authorization": f"Bearer {key}"}
    )
    assert_problem(providers, 403)
