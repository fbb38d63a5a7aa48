"""Webhooks: unguessable URLs, input mapping, 202 or sync outputs, signatures, replays, limits."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from auterity.automatrix.triggers.signatures import (
    DatabaseReplayGuard,
    RedisReplayGuard,
    ReplayGuard,
    sign,
)
from auterity.core.settings import Settings
from tests.integration.automatrix.triggers.conftest import firings, greet_workflow, make_trigger
from tests.integration.identity.conftest import Account, assert_problem, signup


async def webhook(client: httpx.AsyncClient, owner: Account, **fields: Any) -> dict[str, Any]:
    workflow_id = await greet_workflow(client, owner)
    return await make_trigger(
        client, owner, name="hook", kind="webhook", workflow_id=workflow_id, **fields
    )


async def outputs_of(app: FastAPI, client: httpx.AsyncClient, owner: Account, run_id: str) -> Any:
    await app.state.engine.wait_for(uuid.UUID(run_id), 30)
    return (await client.get(f"/api/runs/{run_id}", headers=owner.headers)).json()["outputs"]


async def runs_of(client: httpx.AsyncClient, owner: Account, workflow_id: str) -> list[Any]:
    page = await client.get(f"/api/runs?workflow_id={workflow_id}", headers=owner.headers)
    items: list[Any] = page.json()["items"]
    return items


async def test_body_query_and_headers_map_to_inputs_and_202_names_the_run(
    app: FastAPI, client: httpx.AsyncClient, owner: Account
) -> None:
    hook = await webhook(
        client,
        owner,
        inputs={"who": "{{ body.lead.name }} via {{ query.src }} ({{ headers['x-source'] }})"},
    )
    answer = await client.post(
        f"{hook['url']}?src=form",
        json={"lead": {"name": "Ada"}},
        headers={"X-Source": "landing", "Authorization": "Bearer not-for-workflows"},
    )
    assert answer.status_code == 202, answer.text
    run_id = answer.json()["run_id"]
    assert (
        answer.json()["status"] == "queued" and answer.headers["location"] == f"/api/runs/{run_id}"
    )
    assert await outputs_of(app, client, owner, run_id) == {
        "greeting": "Hello Ada via form (landing)"
    }
    [firing] = await firings(client, owner, hook["id"])
    assert firing["run_id"] == run_id and firing["outcome"] == "started"


async def test_credentials_never_reach_the_workflow(
    app: FastAPI, client: httpx.AsyncClient, owner: Account
) -> None:
    hook = await webhook(client, owner, inputs={"who": "headers {{ headers | json }}"})
    answer = await client.post(
        hook["url"], json={}, headers={"Authorization": "Bearer x", "Cookie": "s=1"}
    )
    seen = json.loads(
        (await outputs_of(app, client, owner, answer.json()["run_id"]))["greeting"][
            len("Hello headers ") :
        ]
    )
    assert "authorization" not in seen and "cookie" not in seen and "content-type" in seen


async def test_without_a_mapping_the_json_body_is_the_inputs(
    app: FastAPI, client: httpx.AsyncClient, owner: Account
) -> None:
    hook = await webhook(client, owner)
    answer = await client.post(hook["url"], json={"who": "Grace"})
    assert await outputs_of(app, client, owner, answer.json()["run_id"]) == {
        "greeting": "Hello Grace"
    }


async def test_sync_mode_answers_the_outputs(
    app: FastAPI, client: httpx.AsyncClient, owner: Account
) -> None:
    hook = await webhook(client, owner, sync_timeout_seconds=20)
    answer = await client.post(hook["url"], json={"who": "Linus"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "succeeded"
    assert answer.json()["outputs"] == {"greeting": "Hello Linus"}


async def test_sync_mode_answers_202_when_the_run_is_slower(
    client: httpx.AsyncClient, owner: Account
) -> None:
    slow = await client.post(
        "/api/workflows",
        json={"name": "slow", "steps": [{"id": "a", "uses": "delay", "with": {"seconds": 30}}]},
        headers=owner.headers,
    )
    hook = await make_trigger(
        client,
        owner,
        name="slow",
        kind="webhook",
        workflow_id=slow.json()["id"],
        sync_timeout_seconds=0.5,
    )
    answer = await client.post(hook["url"], json={})
    assert answer.status_code == 202 and answer.json()["run_id"]


async def test_unknown_tokens_paused_hooks_and_bad_inputs_run_nothing(
    client: httpx.AsyncClient, owner: Account
) -> None:
    assert_problem(await client.post("/api/hooks/not-a-real-token", json={}), 404)
    hook = await webhook(client, owner)
    # The workflow requires `who`: the firing is recorded as failed, the caller gets a 422.
    missing = assert_problem(await client.post(hook["url"], json={"name": "x"}), 422)
    assert "could not start" in missing["detail"]
    [failed] = await firings(client, owner, hook["id"])
    assert failed["outcome"] == "failed" and failed["run_id"] is None
    assert_problem(
        await client.post(
            hook["url"], content=b"{not json", headers={"content-type": "application/json"}
        ),
        400,
    )
    await client.post(f"/api/triggers/{hook['id']}/pause", headers=owner.headers)
    assert_problem(await client.post(hook["url"], json={"who": "x"}), 409)
    assert await runs_of(client, owner, hook["workflow_id"]) == []


async def test_the_same_idempotency_key_gives_the_same_run(
    client: httpx.AsyncClient, owner: Account
) -> None:
    hook = await webhook(client, owner)
    headers = {"Idempotency-Key": "delivery-42"}
    first = await client.post(hook["url"], json={"who": "a"}, headers=headers)
    again = await client.post(hook["url"], json={"who": "a"}, headers=headers)
    assert first.json()["run_id"] == again.json()["run_id"]
    outcomes = sorted(f["outcome"] for f in await firings(client, owner, hook["id"]))
    assert outcomes == ["duplicate", "started"]
    assert len(await runs_of(client, owner, hook["workflow_id"])) == 1


async def test_oversized_bodies_are_413_and_run_nothing(
    client: httpx.AsyncClient, owner: Account, settings: Settings
) -> None:
    hook = await webhook(client, owner, max_body_bytes=64)
    small_limit = await client.post(hook["url"], json={"who": "x" * 100})
    assert_problem(small_limit, 413)
    over_server_limit = await client.post(hook["url"], content=b"x" * (settings.max_body_bytes + 1))
    assert_problem(over_server_limit, 413)
    assert await runs_of(client, owner, hook["workflow_id"]) == []
    assert await firings(client, owner, hook["id"]) == []


def signed(secret: str, body: bytes, at: float | None = None) -> dict[str, str]:
    return {
        "X-Auterity-Signature": sign(secret, int(at or time.time()), body),
        "content-type": "application/json",
    }


async def check_signatures(client: httpx.AsyncClient, owner: Account) -> None:
    hook = await webhook(client, owner, signed=True)
    secret = hook["signing_secret"]
    body = json.dumps({"who": "signed"}).encode()
    ok = await client.post(hook["url"], content=body, headers=signed(secret, body))
    assert ok.status_code == 202, ok.text
    # The very same request again is a replay.
    replay = await client.post(hook["url"], content=body, headers=ok.request.headers)
    assert "already used" in assert_problem(replay, 401)["detail"]
    refusals = [
        {"content-type": "application/json"},
        signed("whsec_wrong", body),
        signed(secret, body + b" "),
        signed(secret, body, at=time.time() - 600),
        {"X-Auterity-Signature": "v1=deadbeef"},
    ]
    for headers in refusals:
        refused = await client.post(hook["url"], content=body, headers=headers)
        assert_problem(refused, 401)
        assert "X-Auterity-Signature" in refused.headers["www-authenticate"]
    assert len(await runs_of(client, owner, hook["workflow_id"])) == 1
    assert len(await firings(client, owner, hook["id"])) == 1


async def test_signatures_and_replays_with_the_database(
    client: httpx.AsyncClient, owner: Account
) -> None:
    await check_signatures(client, owner)


@pytest.fixture
async def redis_app(app_factory: Any, settings: Settings, redis_url: str) -> AsyncIterator[FastAPI]:
    application = app_factory(settings=settings.model_copy(update={"redis_url": redis_url}))
    async with LifespanManager(application):
        yield application


async def test_signatures_and_replays_with_redis(redis_app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=redis_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        await check_signatures(client, await signup(client))


async def test_replay_guards_remember_each_signature_once(
    app: FastAPI, client: httpx.AsyncClient, owner: Account, redis_url: str
) -> None:
    from redis.asyncio import Redis

    hooks = [await webhook(client, owner) for _ in range(2)]
    tenant, first, second = (
        uuid.UUID(owner.tenant_id),
        uuid.UUID(hooks[0]["id"]),
        uuid.UUID(hooks[1]["id"]),
    )
    redis = Redis.from_url(redis_url)
    guards: list[ReplayGuard] = [DatabaseReplayGuard(app.state.runtime.db), RedisReplayGuard(redis)]
    try:
        for guard in guards:
            signature = uuid.uuid4().hex
            ttl = timedelta(minutes=10)
            assert await guard.first_use(tenant, first, signature, ttl) is True
            assert await guard.first_use(tenant, first, signature, ttl) is False
            assert await guard.first_use(tenant, second, signature, ttl) is True
    finally:
        await redis.aclose()


async def test_the_hook_route_is_rate_limited_per_client(
    app_factory: Any, settings: Settings
) -> None:
    limited = app_factory(settings=settings.model_copy(update={"rate_limit_per_ip": 3}))
    async with LifespanManager(limited):
        transport = httpx.ASGITransport(app=limited)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            answers = [
                (await client.post("/api/hooks/guess", json={})).status_code for _ in range(5)
            ]
    assert answers[:3] == [404, 404, 404] and answers[3:] == [429, 429]
