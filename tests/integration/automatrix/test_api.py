"""The workflows API contract: JSON and YAML, validation, versions, ETags, idempotent runs."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from tests.integration.automatrix.conftest import run, save
from tests.integration.identity.conftest import Account, add_member, assert_problem

SPEC = {
    "name": "greet",
    "inputs": {"type": "object", "properties": {"who": {"type": "string"}}, "required": ["who"]},
    "steps": [{"id": "hello", "uses": "transform", "with": {"value": "Hello {{ inputs.who }}"}}],
    "outputs": {"greeting": "{{ steps.hello.output.value }}"},
}


async def test_create_from_json_and_yaml(client: httpx.AsyncClient, owner: Account) -> None:
    created = await client.post("/api/workflows", json=SPEC, headers=owner.headers)
    assert created.status_code == 201
    body = created.json()
    assert set(body) >= {"id", "name", "version"} and body["version"] == 1
    assert (
        created.headers["etag"] == '"v1"'
        and created.headers["location"] == f"/api/workflows/{body['id']}"
    )
    yaml_text = "name: from-yaml\nsteps:\n  - id: a\n    uses: transform\n    with: {value: 1}\n"
    as_yaml = await client.post(
        "/api/workflows",
        content=yaml_text,
        headers={**owner.headers, "content-type": "application/yaml"},
    )
    assert as_yaml.status_code == 201 and as_yaml.json()["spec"]["steps"][0]["id"] == "a"


async def test_invalid_specs_are_422_with_every_problem(
    client: httpx.AsyncClient, owner: Account
) -> None:
    bad = {"name": "bad", "steps": [{"id": "a", "uses": "transfrom"}, {"id": "b", "uses": "delay"}]}
    body = assert_problem(await client.post("/api/workflows", json=bad, headers=owner.headers), 422)
    pointers = {e["pointer"]: e for e in body["errors"]}
    assert pointers["/steps/0/uses"]["hint"] == "did you mean 'transform'?"
    assert "/steps/1/with/seconds" in pointers
    broken_yaml = await client.post(
        "/api/workflows",
        content="name: [unclosed",
        headers={**owner.headers, "content-type": "application/yaml"},
    )
    assert "line 1" in assert_problem(broken_yaml, 400)["detail"]
    wrong_type = await client.post(
        "/api/workflows", content="x", headers={**owner.headers, "content-type": "text/plain"}
    )
    assert_problem(wrong_type, 415)


async def test_validate_endpoint_answers_200_with_the_report(
    client: httpx.AsyncClient, owner: Account
) -> None:
    ok = await client.post("/api/workflows/validate", json=SPEC, headers=owner.headers)
    assert ok.status_code == 200 and ok.json() == {"valid": True, "errors": [], "warnings": []}
    bad = await client.post(
        "/api/workflows/validate",
        json={"name": "x", "steps": [{"id": "a", "uses": "nope"}]},
        headers=owner.headers,
    )
    assert bad.status_code == 200
    assert bad.json()["valid"] is False
    assert bad.json()["errors"][0]["pointer"] == "/steps/0/uses"


async def test_updates_need_if_match_and_detect_concurrent_edits(
    client: httpx.AsyncClient, owner: Account
) -> None:
    workflow = await save(client, owner, SPEC)
    url = f"/api/workflows/{workflow['id']}"
    changed = {**SPEC, "description": "v2"}
    assert_problem(await client.put(url, json=changed, headers=owner.headers), 428)
    first = await client.put(url, json=changed, headers={**owner.headers, "If-Match": '"v1"'})
    assert (
        first.status_code == 200
        and first.json()["version"] == 2
        and first.headers["etag"] == '"v2"'
    )
    stale = await client.put(
        url, json={**SPEC, "description": "lost?"}, headers={**owner.headers, "If-Match": '"v1"'}
    )
    body = assert_problem(stale, 412)
    assert body["current_version"] == 2 and stale.headers["etag"] == '"v2"'
    versions = (await client.get(f"{url}/versions", headers=owner.headers)).json()
    assert [v["version"] for v in versions] == [1, 2]
    assert versions[0]["spec"].get("description") is None


async def test_runs_are_pinned_to_their_version(client: httpx.AsyncClient, owner: Account) -> None:
    workflow = await save(client, owner, SPEC)
    first = await run(client, owner, workflow["id"], {"who": "Ada"})
    v2 = {
        **SPEC,
        "steps": [{"id": "hello", "uses": "transform", "with": {"value": "Bye {{ inputs.who }}"}}],
    }
    await client.put(
        f"/api/workflows/{workflow['id']}", json=v2, headers={**owner.headers, "If-Match": '"v1"'}
    )
    second = await run(client, owner, workflow["id"], {"who": "Ada"})
    assert (first["version"], first["outputs"]) == (1, {"greeting": "Hello Ada"})
    assert (second["version"], second["outputs"]) == (2, {"greeting": "Bye Ada"})
    old = await client.post(
        f"/api/workflows/{workflow['id']}/runs",
        json={"inputs": {"who": "B"}, "version": 1},
        headers=owner.headers,
    )
    assert old.json()["version"] == 1


async def test_idempotency_key_returns_the_same_run(
    client: httpx.AsyncClient, owner: Account
) -> None:
    workflow = await save(client, owner, SPEC)
    headers = {**owner.headers, "Idempotency-Key": f"order-{uuid.uuid4()}"}
    first = await client.post(
        f"/api/workflows/{workflow['id']}/runs", json={"inputs": {"who": "A"}}, headers=headers
    )
    again = await client.post(
        f"/api/workflows/{workflow['id']}/runs", json={"inputs": {"who": "A"}}, headers=headers
    )
    assert first.status_code == 201 and again.status_code == 200
    assert first.json()["id"] == again.json()["id"]


async def test_concurrent_requests_with_one_idempotency_key_start_one_run(
    client: httpx.AsyncClient, owner: Account
) -> None:
    workflow = await save(client, owner, SPEC)
    headers = {**owner.headers, "Idempotency-Key": f"race-{uuid.uuid4()}"}
    answers = await asyncio.gather(
        *(
            client.post(
                f"/api/workflows/{workflow['id']}/runs",
                json={"inputs": {"who": "A"}},
                headers=headers,
            )
            for _ in range(8)
        )
    )
    assert sorted(a.status_code for a in answers) == [200] * 7 + [201], [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1


async def test_permissions(client: httpx.AsyncClient, owner: Account) -> None:
    viewer = await add_member(client, owner, "viewer")
    workflow = await save(client, owner, SPEC)
    assert (
        await client.get(f"/api/workflows/{workflow['id']}", headers=viewer.headers)
    ).status_code == 200
    assert_problem(
        await client.post("/api/workflows", json={**SPEC, "name": "v"}, headers=viewer.headers), 403
    )
    assert_problem(
        await client.post(
            f"/api/workflows/{workflow['id']}/runs",
            json={"inputs": {"who": "x"}},
            headers=viewer.headers,
        ),
        403,
    )


async def test_actions_and_schema_are_published(client: httpx.AsyncClient, owner: Account) -> None:
    actions = {
        a["name"]: a for a in (await client.get("/api/actions", headers=owner.headers)).json()
    }
    assert {"transform", "delay", "log", "condition", "switch"} <= set(actions)
    assert actions["delay"]["input_schema"]["properties"]["seconds"]["type"] == "number"
    schema = (await client.get("/api/schemas/workflow.json")).json()
    assert schema["$id"].endswith("/schemas/workflow.json") and "steps" in schema["properties"]


async def test_run_listing_and_live_events(client: httpx.AsyncClient, owner: Account) -> None:
    workflow = await save(client, owner, SPEC)
    done = await run(client, owner, workflow["id"], {"who": "Ada"})
    listed = (
        await client.get("/api/runs", params={"workflow_id": workflow["id"]}, headers=owner.headers)
    ).json()
    assert [r["id"] for r in listed["items"]] == [done["id"]]
    stream = await client.get(f"/api/runs/{done['id']}/events", headers=owner.headers)
    assert stream.headers["content-type"].startswith("text/event-stream")
    ids = [int(line[4:]) for line in stream.text.splitlines() if line.startswith("id: ")]
    assert ids == sorted(ids) and ids[0] == 1
    resumed = await client.get(
        f"/api/runs/{done['id']}/events", headers={**owner.headers, "Last-Event-ID": str(ids[1])}
    )
    assert [int(line[4:]) for line in resumed.text.splitlines() if line.startswith("id: ")] == ids[
        2:
    ]


async def test_websocket_streams_events_and_refuses_strangers(
    client: httpx.AsyncClient, owner: Account
) -> None:
    import asyncio
    import json
    import socket

    import uvicorn
    import websockets

    from tests.integration.identity.conftest import signup

    app = client._transport.app  # type: ignore[attr-defined]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_config=None)
    )
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:  # noqa: ASYNC110 - uvicorn exposes only a flag
            await asyncio.sleep(0.02)
        workflow = await save(client, owner, {**SPEC, "name": "ws"})
        done = await run(client, owner, workflow["id"], {"who": "Ada"})
        url = f"ws://127.0.0.1:{port}/api/runs/{done['id']}/ws"
        async with websockets.connect(url, additional_headers=owner.headers) as ws:
            events = [json.loads(message) async for message in ws]
        assert events[0]["seq"] == 1 and events[-1]["type"] == "run.succeeded"
        async with websockets.connect(f"{url}?after=2&access_token={owner.access_token}") as ws:
            resumed = [json.loads(message) async for message in ws]
        assert [e["seq"] for e in resumed] == [e["seq"] for e in events[2:]]
        stranger = await signup(client)
        for headers, status in ((stranger.headers, 404), ({}, 401)):
            try:
                async with websockets.connect(url, additional_headers=headers):
                    raise AssertionError("the handshake should have been refused")
            except websockets.InvalidStatus as refused:
                assert refused.response.status_code == status
                assert json.loads(refused.response.body)["status"] == status
    finally:
        server.should_exit = True
        await serving
