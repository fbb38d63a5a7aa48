"""Event triggers: another workflow's run ending, custom events, filters, loops, tenants."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import update

from auterity.core.clock import utcnow
from auterity.core.database import Database
from auterity.core.settings import Settings
from auterity.events import record
from auterity.events.models import EventDelivery
from tests.integration.automatrix.conftest import run
from tests.integration.automatrix.triggers.conftest import firings, greet_workflow, make_trigger
from tests.integration.identity.conftest import Account, add_member, assert_problem, signup


async def settled_firings(
    client: httpx.AsyncClient, owner: Account, trigger_id: str, count: int
) -> list[Any]:
    """The trigger's firings once there are `count` (events are delivered after they
    commit, so their triggers fire a moment later)."""
    for _ in range(200):
        found = await firings(client, owner, trigger_id)
        if len(found) >= count:
            return found
        await asyncio.sleep(0.05)
    return await firings(client, owner, trigger_id)


async def delivered(client: httpx.AsyncClient, account: Account, event_id: str) -> None:
    """Wait until the event has reached the event triggers."""
    for _ in range(200):
        event = (await client.get(f"/api/events/{event_id}", headers=account.headers)).json()
        if [d["status"] for d in event["deliveries"]] == ["delivered"]:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"event {event_id} not delivered: {event}")


async def finished(app: FastAPI, client: httpx.AsyncClient, owner: Account, run_id: str) -> Any:
    await app.state.engine.wait_for(uuid.UUID(run_id), 30)
    return (await client.get(f"/api/runs/{run_id}", headers=owner.headers)).json()


async def test_a_run_ending_triggers_another_workflow(
    app: FastAPI, client: httpx.AsyncClient, owner: Account
) -> None:
    upstream = await greet_workflow(client, owner)
    downstream = await greet_workflow(client, owner)
    on_success = await make_trigger(
        client,
        owner,
        name="after upstream",
        kind="event",
        event="run.succeeded",
        workflow_id=downstream,
        filter=f"event.data.workflow_id == '{upstream}'",
        inputs={"who": "{{ event.data.outputs.greeting }}"},
    )
    on_failure = await make_trigger(
        client, owner, name="on failure", kind="event", event="run.failed", workflow_id=downstream
    )
    await run(client, owner, upstream, {"who": "Ada"})
    [firing] = await settled_firings(client, owner, on_success["id"], 1)
    assert firing["outcome"] == "started" and firing["source"]["type"] == "run.succeeded"
    done = await finished(app, client, owner, firing["run_id"])
    assert done["outputs"] == {"greeting": "Hello Hello Ada"}
    assert await firings(client, owner, on_failure["id"]) == []


async def test_a_failed_run_fires_run_failed_triggers(
    app: FastAPI, client: httpx.AsyncClient, owner: Account
) -> None:
    failing = await client.post(
        "/api/workflows",
        json={
            "name": "fails",
            "steps": [{"id": "boom", "uses": "transform", "with": {"value": "{{ 1 / 0 }}"}}],
        },
        headers=owner.headers,
    )
    responder = await greet_workflow(client, owner)
    trigger = await make_trigger(
        client,
        owner,
        name="alert",
        kind="event",
        event="run.failed",
        workflow_id=responder,
        inputs={"who": "run {{ event.data.run_id }}"},
    )
    failed = await run(client, owner, failing.json()["id"])
    assert failed["status"] == "failed"
    [firing] = await settled_firings(client, owner, trigger["id"], 1)
    done = await finished(app, client, owner, firing["run_id"])
    assert done["outputs"] == {"greeting": f"Hello run {failed['id']}"}


async def test_a_workflow_does_not_trigger_itself(
    client: httpx.AsyncClient, owner: Account
) -> None:
    workflow_id = await greet_workflow(client, owner)
    loop = await make_trigger(
        client,
        owner,
        name="loop",
        kind="event",
        event="run.succeeded",
        workflow_id=workflow_id,
        filter=f"event.data.workflow_id == '{workflow_id}'",  # its own runs, explicitly
        inputs={"who": "again"},
    )
    # Event triggers are handled in creation order: once this later one has fired for the
    # run's end, the loop trigger has been considered too.
    witness = await make_trigger(
        client,
        owner,
        name="witness",
        kind="event",
        event="run.succeeded",
        workflow_id=await greet_workflow(client, owner),
        filter=f"event.data.workflow_id == '{workflow_id}'",
        inputs={"who": "witness"},
    )
    await run(client, owner, workflow_id, {"who": "once"})
    assert len(await settled_firings(client, owner, witness["id"], 1)) == 1
    assert await firings(client, owner, loop["id"]) == []


async def test_custom_events_with_a_filter(
    app: FastAPI, client: httpx.AsyncClient, owner: Account
) -> None:
    workflow_id = await greet_workflow(client, owner)
    hot = await make_trigger(
        client,
        owner,
        name="hot leads",
        kind="event",
        event="lead.created",
        workflow_id=workflow_id,
        filter="event.data.score > 5",
    )
    for who, score in (("cold", 3), ("warm", 9)):
        posted = await client.post(
            "/api/events",
            json={"type": "lead.created", "data": {"who": who, "score": score}},
            headers=owner.headers,
        )
        assert posted.status_code == 202, posted.text
        assert posted.json()["type"] == "lead.created"
    [firing] = await settled_firings(client, owner, hot["id"], 1)
    assert firing["source"]["event_id"] == posted.json()["id"]
    done = await finished(app, client, owner, firing["run_id"])
    assert done["inputs"] == {"who": "warm", "score": 9}
    assert done["outputs"] == {"greeting": "Hello warm"}


async def test_a_failing_filter_is_a_failed_firing(
    client: httpx.AsyncClient, owner: Account
) -> None:
    workflow_id = await greet_workflow(client, owner)
    trigger = await make_trigger(
        client,
        owner,
        name="bad filter",
        kind="event",
        event="ping",
        workflow_id=workflow_id,
        filter="event.data.missing.deeper > 1",
    )
    await client.post("/api/events", json={"type": "ping"}, headers=owner.headers)
    [firing] = await settled_firings(client, owner, trigger["id"], 1)
    assert firing["outcome"] == "failed" and firing["error"]["kind"] == "filter"
    assert firing["run_id"] is None


async def test_events_stay_in_their_tenant_and_need_permission(
    client: httpx.AsyncClient, owner: Account
) -> None:
    workflow_id = await greet_workflow(client, owner)
    trigger = await make_trigger(
        client, owner, name="t", kind="event", event="lead.created", workflow_id=workflow_id
    )
    stranger = await signup(client, tenant_name="Other")
    sent = await client.post(
        "/api/events",
        json={"type": "lead.created", "data": {"who": "x"}},
        headers=stranger.headers,
    )
    assert sent.status_code == 202
    await delivered(client, stranger, sent.json()["id"])
    assert await firings(client, owner, trigger["id"]) == []
    viewer = await add_member(client, owner, "viewer")
    assert_problem(
        await client.post("/api/events", json={"type": "lead.created"}, headers=viewer.headers),
        403,
    )
    reserved = await client.post(
        "/api/events", json={"type": "run.succeeded"}, headers=owner.headers
    )
    assert assert_problem(reserved, 422)["errors"][0]["pointer"] == "/type"
    assert_problem(await client.post("/api/events", json={"data": {}}, headers=owner.headers), 422)


async def test_a_run_end_is_an_event_recorded_with_it(
    client: httpx.AsyncClient, owner: Account
) -> None:
    workflow_id = await greet_workflow(client, owner)
    done = await run(client, owner, workflow_id, {"who": "Ada"})
    listed = await client.get(
        "/api/events", params={"type": "run.succeeded"}, headers=owner.headers
    )
    [event] = listed.json()["items"]
    assert event["data"] == {
        "run_id": done["id"],
        "workflow_id": workflow_id,
        "status": "succeeded",
        "outputs": {"greeting": "Hello Ada"},
        "error": None,
    }
    await delivered(client, owner, event["id"])


async def test_a_redelivered_event_starts_no_second_run(
    app: FastAPI, client: httpx.AsyncClient, owner: Account
) -> None:
    workflow_id = await greet_workflow(client, owner)
    trigger = await make_trigger(
        client, owner, name="t", kind="event", event="lead.created", workflow_id=workflow_id
    )
    sent = await client.post(
        "/api/events", json={"type": "lead.created", "data": {"who": "Ada"}}, headers=owner.headers
    )
    event_id = sent.json()["id"]
    await delivered(client, owner, event_id)
    # As if the process died after the trigger fired but before the delivery was marked.
    db: Database = app.state.runtime.db
    async with db.session() as session:
        await session.execute(
            update(EventDelivery)
            .where(EventDelivery.event_id == uuid.UUID(event_id))
            .values(status="pending", next_attempt_at=utcnow())
        )
    app.state.events.wake()
    first, again = sorted(
        await settled_firings(client, owner, trigger["id"], 2), key=lambda f: f["fired_at"]
    )
    assert (first["outcome"], again["outcome"]) == ("started", "duplicate")
    assert first["run_id"] == again["run_id"]
    runs = await client.get("/api/runs", params={"workflow_id": workflow_id}, headers=owner.headers)
    assert [r["id"] for r in runs.json()["items"]] == [first["run_id"]]


async def test_events_left_undelivered_fire_triggers_when_the_next_process_starts(
    app_factory: Any, settings: Settings
) -> None:
    """An event committed while no process delivers (the one that wrote it died) fires its
    triggers once a process starts on the database."""
    first = app_factory(settings=settings)
    async with LifespanManager(first, startup_timeout=30, shutdown_timeout=30):
        transport = httpx.ASGITransport(app=first)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            owner = await signup(http)
            workflow_id = await greet_workflow(http, owner)
            trigger = await make_trigger(
                http, owner, name="t", kind="event", event="lead.created", workflow_id=workflow_id
            )
    db: Database = first.state.runtime.db
    async with db.session() as session:
        event = await record(session, uuid.UUID(owner.tenant_id), "lead.created", {"who": "Bo"})
    second = app_factory(settings=settings)
    async with LifespanManager(second, startup_timeout=30, shutdown_timeout=30):
        transport = httpx.ASGITransport(app=second)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            [firing] = await settled_firings(http, owner, trigger["id"], 1)
            assert firing["source"]["event_id"] == str(event.id)
            done = await finished(second, http, owner, firing["run_id"])
            assert done["outputs"] == {"greeting": "Hello Bo"}
