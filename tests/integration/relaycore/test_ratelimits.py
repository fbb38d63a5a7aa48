"""Gateway rate limits per key and tenant, in process memory and in Redis."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from auterity.core.problems import problem_response
from auterity.core.runtime import Runtime
from auterity.relaycore.payer import Payer
from auterity.relaycore.ratelimits import RelayRateLimited, RelayRateLimits, duration
from tests.integration.identity.conftest import Account, assert_problem
from tests.integration.relaycore.conftest import make_tenant


def limits_of(runtime: Runtime) -> RelayRateLimits:
    return RelayRateLimits(runtime.rate_limiter, runtime.db, runtime.cache)


async def tenant_with(runtime: Runtime, relay: dict[str, Any]) -> uuid.UUID:
    return await make_tenant(runtime.db, settings={"relay": relay})


async def test_the_counter_store_follows_the_settings(runtime: Runtime, store: str) -> None:
    storage = type(runtime.rate_limiter.storage).__name__
    assert storage == ("RedisStorage" if store == "redis" else "MemoryStorage")


async def test_requests_per_minute_per_key_with_openai_headers(runtime: Runtime) -> None:
    tenant = await tenant_with(runtime, {"key_limits": {"requests_per_minute": 3}})
    limits = limits_of(runtime)
    key, other = Payer(tenant, uuid.uuid4()), Payer(tenant, uuid.uuid4())

    remaining = []
    for _ in range(3):
        headers = (await limits.admit(key, 10)).headers()
        assert headers["x-ratelimit-limit-requests"] == "3"
        assert "x-ratelimit-limit-tokens" not in headers  # no token limit is set
        remaining.append(headers["x-ratelimit-remaining-requests"])
    assert remaining == ["2", "1", "0"]

    with pytest.raises(RelayRateLimited) as refused:
        await limits.admit(key, 10)
    error = refused.value
    retry = int(error.headers["Retry-After"])
    assert 1 <= retry <= 60
    assert error.headers["x-ratelimit-remaining-requests"] == "0"
    assert error.headers["x-ratelimit-reset-requests"].endswith("s")
    assert "Limit 3" in error.detail
    problem = problem_response(error)
    assert problem.status_code == 429
    assert problem.headers["Retry-After"] == str(retry)
    assert problem.headers["x-ratelimit-limit-requests"] == "3"
    # The /v1 surface writes the slug as OpenAI's error code.
    assert error.slug.replace("-", "_") == "rate_limit_exceeded"
    # Each key has its own allowance.
    await limits.admit(other, 10)


async def test_the_tenant_limit_is_shared_by_its_keys(runtime: Runtime) -> None:
    tenant = await tenant_with(runtime, {"tenant_limits": {"requests_per_minute": 2}})
    limits = limits_of(runtime)
    await limits.admit(Payer(tenant, uuid.uuid4()), 1)
    await limits.admit(Payer(tenant, uuid.uuid4()), 1)
    with pytest.raises(RelayRateLimited) as refused:
        await limits.admit(Payer(tenant, uuid.uuid4()), 1)
    assert refused.value.scope == "tenant"
    # Another tenant is untouched.
    other = await tenant_with(runtime, {"tenant_limits": {"requests_per_minute": 2}})
    await limits.admit(Payer(other, uuid.uuid4()), 1)


async def test_tokens_per_minute_count_the_estimate(runtime: Runtime) -> None:
    key_id = uuid.uuid4()
    tenant = await tenant_with(
        runtime,
        {
            "key_limits": {"tokens_per_minute": 10},
            "key_overrides": {
                str(key_id): {"tokens_per_minute": 1_000, "requests_per_minute": 100}
            },
        },
    )
    limits = limits_of(runtime)
    key = Payer(tenant, key_id)
    first = (await limits.admit(key, 600)).headers()
    assert (first["x-ratelimit-limit-tokens"], first["x-ratelimit-remaining-tokens"]) == (
        "1000",
        "400",
    )
    assert first["x-ratelimit-remaining-requests"] == "99"
    with pytest.raises(RelayRateLimited) as refused:
        await limits.admit(key, 600)
    assert refused.value.kind == "tokens"
    assert refused.value.extra == {"limit": "tokens", "scope": "API key"}
    await limits.admit(key, 400)  # what is left still fits
    # A key without an override gets the tenant's per-key default.
    with pytest.raises(RelayRateLimited):
        await limits.admit(Payer(tenant, uuid.uuid4()), 11)


async def test_no_configured_limit_admits_everything(runtime: Runtime) -> None:
    tenant = await make_tenant(runtime.db)
    admission = await limits_of(runtime).admit(Payer(tenant, uuid.uuid4()), 10**9)
    assert admission.headers() == {}


def test_reset_times_are_written_as_openai_writes_them() -> None:
    assert [duration(s) for s in (0, 45, 60, 361, 3723)] == ["0s", "45s", "1m0s", "6m1s", "1h2m3s"]


async def test_limits_are_set_in_the_tenant_settings(
    client: httpx.AsyncClient, owner: Account, app: FastAPI
) -> None:
    key_id = uuid.uuid4()
    relay = {
        "tenant_limits": {"requests_per_minute": 1},
        "key_overrides": {str(key_id): {"tokens_per_minute": 5}},
    }
    updated = await client.patch(
        "/api/tenant/settings", json={"relay": relay}, headers=owner.headers
    )
    assert updated.status_code == 200, updated.text
    runtime: Runtime = app.state.runtime
    payer = Payer(uuid.UUID(owner.tenant_id), key_id)
    key_limits, tenant_limits = await limits_of(runtime).limits(payer)
    assert (tenant_limits.requests_per_minute, key_limits.tokens_per_minute) == (1, 5)

    invalid = {"tenant_limits": {"requests_per_minute": 0}, "key_overrides": {"nope": {}}}
    problem = assert_problem(
        await client.patch("/api/tenant/settings", json={"relay": invalid}, headers=owner.headers),
        422,
    )
    pointers = {error["pointer"] for error in problem["errors"]}
    assert "/relay/tenant_limits/requests_per_minute" in pointers
    assert any(pointer.startswith("/relay/key_overrides") for pointer in pointers)


async def test_a_refused_request_counts_against_no_limit(runtime: Runtime) -> None:
    tenant = await tenant_with(
        runtime,
        {
            "key_limits": {"requests_per_minute": 5},
            "tenant_limits": {"tokens_per_minute": 600},
        },
    )
    limits, now = limits_of(runtime), 1_800_000_000.0
    runtime.rate_limiter.clock = lambda: now
    key = Payer(tenant, uuid.uuid4())
    first = (await limits.admit(key, 600)).headers()
    assert first["x-ratelimit-remaining-tokens"] == "0"
    assert first["x-ratelimit-reset-tokens"] == "1m0s"
    with pytest.raises(RelayRateLimited) as refused:
        await limits.admit(key, 60)  # the key has requests left, the tenant no tokens
    error = refused.value
    assert (error.kind, error.scope) == ("tokens", "tenant")
    assert error.headers["Retry-After"] == "6"  # 60 tokens come back at 10 per second
    assert error.headers["x-ratelimit-remaining-requests"] == "4"
    now += 6
    # The refusal did not spend one of the key's requests.
    assert (await limits.admit(key, 60)).headers()["x-ratelimit-remaining-requests"] == "3"


async def test_retry_after_waits_for_every_refusing_limit(runtime: Runtime) -> None:
    tenant = await tenant_with(
        runtime,
        {
            "key_limits": {"tokens_per_minute": 600},  # 10 tokens back every second
            "tenant_limits": {"requests_per_minute": 1},  # the request back after a minute
        },
    )
    limits, now = limits_of(runtime), 1_800_000_000.0
    runtime.rate_limiter.clock = lambda: now
    key = Payer(tenant, uuid.uuid4())
    await limits.admit(key, 600)
    with pytest.raises(RelayRateLimited) as refused:
        await limits.admit(key, 60)  # both refuse: the key's tokens for 6 s, the tenant's for 60
    error = refused.value
    assert (error.kind, error.scope, error.headers["Retry-After"]) == ("requests", "tenant", "60")
