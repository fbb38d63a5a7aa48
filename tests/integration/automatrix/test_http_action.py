"""The `http.request` action in workflows run through the API, on SQLite and PostgreSQL.

The origin server listens on 127.0.0.1, which the SSRF guard refuses by default: the
`loopback` client's platform allows 127.0.0.1/32 explicitly; `client` keeps the default.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import json
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import select

from auterity.automatrix.models import RunEvent
from auterity.core.clock import FrozenClock
from auterity.core.database import Database
from auterity.core.settings import Settings
from tests.integration.automatrix.conftest import run, save, save_and_run, steps_by_id
from tests.integration.identity.conftest import Account, signup
from tests.integration.integrations.http.origin import Origin

TOKEN = "tok-3f9a-very-secret"
FAST_RETRY = {"max_attempts": 3, "backoff": {"initial": 0.01}, "jitter": False}


@pytest.fixture
async def loopback(app_factory: Any, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    allowed = settings.model_copy(
        update={"http_allowed_private_networks": [ipaddress.ip_network("127.0.0.1/32")]}
    )
    application = app_factory(settings=allowed)
    async with LifespanManager(application):
        transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


@pytest.fixture
async def account(loopback: httpx.AsyncClient) -> Account:
    return await signup(loopback)


def workflow(*steps: dict[str, Any]) -> dict[str, Any]:
    return {"name": f"http-{uuid.uuid4().hex[:8]}", "steps": list(steps)}


def call(step_id: str, on_error: str = "continue", **with_: Any) -> dict[str, Any]:
    return {"id": step_id, "uses": "http.request", "with": with_, "on_error": on_error}


def unique(prefix: str = "echo") -> str:
    return f"/{prefix}/{uuid.uuid4().hex[:8]}"


async def test_requests_with_query_headers_json_and_a_bearer_token_from_a_secret(
    loopback: httpx.AsyncClient,
    account: Account,
    origin: Origin,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # httpx logs each request at INFO, off by default; switched on, the query must not show.
    caplog.set_level(logging.INFO, logger="httpx")
    stored = await loopback.put(
        "/api/secrets/API_TOKEN", json={"value": TOKEN}, headers=account.headers
    )
    assert stored.status_code == 200, stored.text
    get_path, post_path = unique(), unique()
    spec = workflow(
        call(
            "fetch",
            "fail",
            url=f"{origin.url}{get_path}",
            query={"q": "shoes", "tag": ["a", "b"], "n": 3, "key": "{{ secrets.API_TOKEN }}"},
            headers={"X-Trace": "t-1"},
            auth={"type": "bearer", "token": "{{ secrets.API_TOKEN }}"},
        ),
        call(
            "post",
            "fail",
            method="post",
            url=f"{origin.url}{post_path}",
            json={"seen": "{{ steps.fetch.output.body.query.q[0] }}", "n": [1, 2]},
        ),
        call("text", "fail", url=f"{origin.url}/text"),
        call("binary", "fail", url=f"{origin.url}/bytes"),
        call("declared_json", "fail", url=f"{origin.url}/not-json"),
        call("as_text", "fail", url=f"{origin.url}/echo", response_type="text"),
    )
    body = await save_and_run(loopback, account, json.dumps(spec))
    assert body["status"] == "succeeded", body
    steps = steps_by_id(body)

    got = origin.seen(get_path)[0]
    assert got.method == "GET"
    assert got.query == {"q": ["shoes"], "tag": ["a", "b"], "n": ["3"], "key": [TOKEN]}
    assert got.headers["x-trace"] == "t-1"
    assert got.headers["authorization"] == f"Bearer {TOKEN}"
    assert got.headers["idempotency-key"] == f"{body['id']}:fetch"
    output = steps["fetch"]["output"]
    assert output["status"] == 200 and output["url"].startswith(f"{origin.url}{get_path}?")
    assert output["headers"]["content-type"] == "application/json"
    assert output["body"]["path"] == get_path  # parsed JSON, usable in expressions
    assert output["elapsed_ms"] > 0

    posted = origin.seen(post_path)[0]
    assert posted.method == "POST" and posted.headers["content-type"] == "application/json"
    assert json.loads(posted.body) == {"seen": "shoes", "n": [1, 2]}
    assert posted.headers["idempotency-key"] == f"{body['id']}:post"

    assert steps["text"]["output"]["body"] == "héllo"
    assert base64.b64decode(steps["binary"]["output"]["body"]) == bytes(range(256))
    assert steps["declared_json"]["output"]["body"] == "<html>oops</html>"
    assert isinstance(steps["as_text"]["output"]["body"], str)

    # The token reached the server, and nowhere in what the run shows: parameters, logs,
    # and even the server's echo of the header in the output are redacted; nor is it in the
    # process log (httpx would log the URL with its query).
    assert TOKEN not in json.dumps(body)
    assert TOKEN not in caplog.text
    assert f"{get_path}?…" in caplog.text  # the request is logged, its query is not
    assert output["url"].endswith("&key=[secret:API_TOKEN]")
    assert steps["fetch"]["input"]["auth"]["token"] == "[secret:API_TOKEN]"
    assert output["body"]["headers"]["authorization"] == "Bearer [secret:API_TOKEN]"
    assert steps["fetch"]["logs"] == [f"GET {origin.url}{get_path} -> 200 in "
                                    f"{output['elapsed_ms']:g} ms"]  # fmt: skip


async def test_status_errors_map_to_kinds_and_only_server_errors_are_retried(
    loopback: httpx.AsyncClient, account: Account, origin: Origin
) -> None:
    flaky = unique("flaky")
    spec = workflow(
        {**call("missing", url=f"{origin.url}/status/404"), "retry": FAST_RETRY},
        {**call("unavailable", url=f"{origin.url}{flaky}?fail=2"), "retry": FAST_RETRY},
        call("limited", url=f"{origin.url}/status/429?retry_after=7"),
        call("tolerated", url=f"{origin.url}/status/404", raise_for_status=False),
    )
    body = await save_and_run(loopback, account, json.dumps(spec))
    steps = steps_by_id(body)

    missing = steps["missing"]
    assert missing["status"] == "failed" and missing["attempt"] == 1
    assert missing["error"]["kind"] == "client_error"
    assert missing["error"]["message"] == f"GET {origin.url}/status/404 answered 404 Not Found"
    assert missing["error"]["details"]["status"] == 404
    assert json.loads(missing["error"]["details"]["body"]) == {"error": "as asked"}

    unavailable = steps["unavailable"]
    assert unavailable["status"] == "succeeded" and unavailable["attempt"] == 3
    assert unavailable["output"]["body"] == {"attempt": 3}
    keys = {seen.headers["idempotency-key"] for seen in origin.seen(flaky)}
    assert len(origin.seen(flaky)) == 3 and keys == {f"{body['id']}:unavailable"}

    limited = steps["limited"]
    assert limited["status"] == "failed" and limited["error"]["kind"] == "rate_limited"
    assert limited["error"]["details"]["retry_after"] == 7

    assert steps["tolerated"]["status"] == "succeeded"
    assert steps["tolerated"]["output"]["status"] == 404


async def test_timeouts_size_limits_private_redirects_and_bad_parameters_fail_clearly(
    loopback: httpx.AsyncClient, account: Account, origin: Origin
) -> None:
    spec = workflow(
        {**call("slow", url=f"{origin.url}/slow?seconds=3", timeout="300ms"), "retry": FAST_RETRY},
        call("big", url=f"{origin.url}/big?bytes=100000", max_response_bytes=1000),
        call("beyond", url=f"{origin.url}/echo", max_response_bytes=10**12),
        call("redirect", url=f"{origin.url}/redirect?to=http://10.1.2.3/internal"),
        call("scheme", url="{{ inputs.target }}"),  # checked when run: known only then
    )
    body = await save_and_run(loopback, account, json.dumps(spec), {"target": "file:///etc/passwd"})
    steps = steps_by_id(body)
    errors = {sid: step["error"] for sid, step in steps.items()}

    assert errors["slow"]["kind"] == "timeout" and steps["slow"]["attempt"] == 3
    assert errors["big"]["kind"] == "client_error"
    assert "larger than the limit of 1000 bytes" in errors["big"]["message"]
    assert errors["beyond"]["kind"] == "client_error"
    assert "AUTERITY_HTTP_MAX_RESPONSE_BYTES" in errors["beyond"]["message"]
    assert errors["redirect"]["kind"] == "client_error"
    assert "10.1.2.3" in errors["redirect"]["message"]
    assert errors["redirect"]["details"]["reason"] == "a private address"
    assert errors["scheme"]["kind"] == "client_error"
    assert "http:// or https://" in errors["scheme"]["message"]


async def test_bad_parameters_are_refused_when_the_workflow_is_saved(
    loopback: httpx.AsyncClient, account: Account
) -> None:
    spec = workflow(
        call("both", method="POST", url="https://example.com/", json={"a": 1}, body="a=1"),
        call("scheme", url="file:///etc/passwd"),
        call("verb", method="BREW", url="https://example.com/"),
        call("header", url="https://example.com/", headers={"X-A": "1\r\nX-Injected: 1"}),
    )
    saved = await loopback.post("/api/workflows", json=spec, headers=account.headers)
    assert saved.status_code == 422
    problems = {e["pointer"]: e["message"] for e in saved.json()["errors"]}
    assert "either `json`" in problems["/steps/0/with"]
    assert "http:// or https://" in problems["/steps/1/with/url"]
    assert "'BREW' is not a method" in problems["/steps/2/with/method"]
    assert "line break" in problems["/steps/3/with/headers"]


SSRF_TARGETS = [
    ("loopback", "http://127.0.0.1:{port}{path}", "127.0.0.1"),
    ("name", "http://localhost:{port}{path}", "127.0.0.1"),
    ("ipv6", "http://[::1]:{port}{path}", "::1"),
    ("metadata", "http://169.254.169.254/latest/meta-data/", "169.254.169.254"),
    ("ten", "http://10.1.2.3{path}", "10.1.2.3"),
    ("home", "http://192.168.1.1{path}", "192.168.1.1"),
    ("cgnat", "http://100.64.0.1{path}", "100.64.0.1"),
    ("unspecified", "http://0.0.0.0:{port}{path}", "0.0.0.0"),
    ("mapped", "http://[::ffff:127.0.0.1]:{port}{path}", "::ffff:127.0.0.1"),
    ("decimal", "http://2130706433:{port}{path}", "127.0.0.1"),
    ("octal", "http://0177.0.0.1:{port}{path}", "0177.0.0.1"),
]


async def test_private_addresses_are_refused_by_default(
    client: httpx.AsyncClient, origin: Origin
) -> None:
    account = await signup(client)
    path = unique()
    spec = workflow(
        *(
            {**call(name, url=url.format(port=origin.port, path=path)), "retry": FAST_RETRY}
            for name, url, _ in SSRF_TARGETS
        )
    )
    body = await save_and_run(client, account, json.dumps(spec))
    steps = steps_by_id(body)
    for name, _, address in SSRF_TARGETS:
        step = steps[name]
        assert step["status"] == "failed" and step["attempt"] == 1, (name, step)
        assert step["error"]["kind"] == "client_error", (name, step)
        assert address in step["error"]["message"], (name, step["error"])
    assert "AUTERITY_HTTP_ALLOWED_PRIVATE_NETWORKS" in steps["loopback"]["error"]["message"]
    assert steps["metadata"]["error"]["details"]["reason"] == "a cloud metadata address"
    assert origin.seen(path) == []  # nothing reached the server


async def retry_times(db: Database, run_id: str, count: int) -> dict[str, datetime]:
    """The due time of each step's first retry, once `count` steps have one."""
    for _ in range(400):
        async with db.session(readonly=True) as session:
            rows = await session.execute(
                select(RunEvent.data).where(
                    RunEvent.run_id == uuid.UUID(run_id), RunEvent.type == "step.retrying"
                )
            )
            found = {d["step"]: datetime.fromisoformat(d["retry_at"]) for d in rows.scalars()}
        if len(found) >= count:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"only {found} retried")


async def test_retries_wait_at_least_what_retry_after_asks_up_to_the_longest_backoff(
    loopback: httpx.AsyncClient, account: Account, origin: Origin, clock: FrozenClock
) -> None:
    now = clock.now()
    later = format_datetime(now + timedelta(seconds=90), usegmt=True)
    retry = {"max_attempts": 2, "backoff": {"initial": 0.5, "max": "200s"}, "jitter": False}
    spec = workflow(
        {**call("seconds", url=f"{origin.url}/status/429?retry_after=120"), "retry": retry},
        {**call("date", url=f"{origin.url}/status/503?retry_after={quote(later)}"), "retry": retry},
        {**call("capped", url=f"{origin.url}/status/429?retry_after=100000"), "retry": retry},
        {**call("without", url=f"{origin.url}/status/503"), "retry": retry},
        {**call("ignored", url=f"{origin.url}/status/500?retry_after=120"), "retry": retry},
    )
    workflow_id = (await save(loopback, account, spec))["id"]
    started = await loopback.post(
        f"/api/workflows/{workflow_id}/runs", json={}, headers=account.headers
    )
    run_id = started.json()["id"]
    app = loopback._transport.app  # type: ignore[attr-defined]
    due = await retry_times(app.state.runtime.db, run_id, 5)
    waits = {step: (at - now).total_seconds() for step, at in due.items()}
    # Retry-After in seconds and as an HTTP date; capped at the backoff's longest wait; the
    # backoff alone without it; and not honoured on a status that does not define it.
    assert waits == {"seconds": 120, "date": 90, "capped": 200, "without": 0.5, "ignored": 0.5}
    # Durable due times: nothing is retried before the clock reaches them.
    await asyncio.sleep(0.3)
    clock.advance(60)
    await asyncio.sleep(0.5)
    attempts = {s["id"]: s["attempt"] for s in (await get_run(loopback, account, run_id))["steps"]}
    assert attempts == {"seconds": 1, "date": 1, "capped": 1, "without": 2, "ignored": 2}
    clock.advance(200)
    engine = app.state.engine
    assert await engine.wait_for(uuid.UUID(run_id), 10) == "succeeded"  # on_error: continue
    final = steps_by_id(await get_run(loopback, account, run_id))
    assert {step["attempt"] for step in final.values()} == {2}
    assert final["seconds"]["error"]["details"]["retry_after"] == 120


async def get_run(client: httpx.AsyncClient, account: Account, run_id: str) -> dict[str, Any]:
    body: dict[str, Any] = (await client.get(f"/api/runs/{run_id}", headers=account.headers)).json()
    return body


async def allow(client: httpx.AsyncClient, account: Account, **http: list[str]) -> None:
    response = await client.patch(
        "/api/tenant/settings", json={"http": http}, headers=account.headers
    )
    assert response.status_code == 200, response.text


async def test_a_tenant_reaches_the_private_addresses_its_settings_allow_and_no_other(
    client: httpx.AsyncClient, origin: Origin
) -> None:
    by_network, by_host, other = [await signup(client) for _ in range(3)]
    # Not metadata, though a whole link-local range is allowed: that takes the exact address.
    await allow(client, by_network, allowed_private_networks=["127.0.0.1/32", "169.254.0.0/16"])
    await allow(client, by_host, allowed_private_hosts=["localhost"])
    path = unique()
    spec = json.dumps(
        workflow(
            call("address", url=f"{origin.url}{path}?via=address"),
            call("name", url=f"http://localhost:{origin.port}{path}?via=name"),
            call("metadata", url="http://169.254.169.254/latest/meta-data/"),
        )
    )
    results, saved = {}, {}
    for account in (by_network, by_host, other):
        saved[account.tenant_id] = (await save(client, account, spec))["id"]
        body = await run(client, account, saved[account.tenant_id])
        assert body["status"] == "succeeded", body  # on_error: continue
        results[account.tenant_id] = {
            name: (step["status"], (step["error"] or {}).get("details", {}).get("reason"))
            for name, step in steps_by_id(body).items()
        }
    metadata = ("failed", "a cloud metadata address")
    loopback = ("failed", "a loopback address")
    # The network allows 127.0.0.1 by address, and the name `localhost` where it resolves
    # to 127.0.0.1; the host entry allows the name whatever it resolves to, not the address.
    assert results[by_network.tenant_id] == {
        "address": ("succeeded", None), "name": ("succeeded", None), "metadata": metadata
    }  # fmt: skip
    assert results[by_host.tenant_id] == {
        "address": loopback, "name": ("succeeded", None), "metadata": metadata
    }  # fmt: skip
    assert results[other.tenant_id] == {"address": loopback, "name": loopback, "metadata": metadata}
    assert sorted(seen.query["via"][0] for seen in origin.seen(path)) == [
        "address", "name", "name"
    ]  # fmt: skip
    # Taking the exception back applies at once (the settings cache is invalidated).
    await allow(client, by_network)
    again = steps_by_id(await run(client, by_network, saved[by_network.tenant_id]))
    assert again["address"]["status"] == "failed"


async def test_a_step_rerun_after_a_crash_sends_the_same_key_so_the_order_is_placed_once(
    loopback: httpx.AsyncClient, account: Account, origin: Origin
) -> None:
    spec = workflow(call("order", "fail", method="POST", url=f"{origin.url}/orders?hang=3"))
    saved = await save(loopback, account, json.dumps(spec))
    started = await loopback.post(
        f"/api/workflows/{saved['id']}/runs", json={}, headers=account.headers
    )
    run_id = started.json()["id"]
    key = f"{run_id}:order"
    for _ in range(200):
        if key in origin.orders:
            break
        await asyncio.sleep(0.02)
    assert key in origin.orders  # the server did the side effect and is slow to answer
    engine = loopback._transport.app.state.engine  # type: ignore[attr-defined]
    await engine.stop()  # the process "dies" mid-request
    await engine.start()  # and another takes the run over from the database
    # Resumed at once: stopping released the run's lease rather than leaving it to lapse.
    await engine.wait_for(uuid.UUID(run_id), 10)
    body = (await loopback.get(f"/api/runs/{run_id}", headers=account.headers)).json()
    assert body["status"] == "succeeded", body
    step = steps_by_id(body)["order"]
    assert step["attempt"] == 2
    output = step["output"]
    assert output["headers"]["idempotent-replayed"] == "true"
    assert output["body"] == origin.orders[key]
    sent = [
        s.headers["idempotency-key"]
        for s in origin.seen("/orders")
        if s.headers.get("idempotency-key", "").startswith(run_id)
    ]
    assert sent == [key, key]  # twice sent, once done


async def test_a_user_set_idempotency_key_is_kept(
    loopback: httpx.AsyncClient, account: Account, origin: Origin
) -> None:
    path = unique()
    spec = workflow(
        call(
            "put",
            "fail",
            method="PUT",
            url=f"{origin.url}{path}",
            headers={"idempotency-key": "mine-1"},
            body="raw text",
        )
    )
    await run(loopback, account, (await save(loopback, account, json.dumps(spec)))["id"])
    seen = origin.seen(path)[0]
    assert seen.headers["idempotency-key"] == "mine-1" and seen.body == b"raw text"
