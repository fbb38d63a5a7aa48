"""The events API: recent events with their deliveries, dead letters and replay, per tenant."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from auterity.core.settings import Settings
from tests.integration.events.conftest import Recorder
from tests.integration.identity.conftest import Account, add_member, assert_problem, signup


@pytest.fixture
def flaky() -> Recorder:
    return Recorder(broken=True)


@pytest.fixture
async def app(app_factory: Any, settings: Settings, flaky: Recorder) -> AsyncIterator[FastAPI]:
    # One attempt, so a failure is dead at once; a long poll, so delivery comes from the wake.
    once = settings.model_copy(update={"events_max_attempts": 1, "events_poll_seconds": 60})
    application = app_factory(settings=once)
    application.state.events.subscribe("flaky", flaky)
    async with LifespanManager(application, startup_timeout=30, shutdown_timeout=30):
        yield application


@pytest.fixture
async def owner(client: httpx.AsyncClient) -> Account:
    return await signup(client)


async def publish(client: httpx.AsyncClient, account: Account, type_: str, **data: Any) -> str:
    sent = await client.post(
        "/api/events", json={"type": type_, "data": data}, headers=account.headers
    )
    assert sent.status_code == 202, sent.text
    event_id: str = sent.json()["id"]
    return event_id


async def settled(client: httpx.AsyncClient, account: Account, event_id: str) -> dict[str, Any]:
    """The event once none of its deliveries is pending."""
    for _ in range(200):
        got = await client.get(f"/api/events/{event_id}", headers=account.headers)
        assert got.status_code == 200, got.text
        body: dict[str, Any] = got.json()
        if all(d["status"] != "pending" for d in body["deliveries"]):
            return body
        await asyncio.sleep(0.02)
    raise AssertionError(f"event {event_id} still pending: {body}")


async def test_events_are_listed_newest_first_by_type_and_page_within_the_tenant(
    client: httpx.AsyncClient, owner: Account
) -> None:
    first = await publish(client, owner, "lead.created", who="Ada")
    await publish(client, owner, "lead.lost", who="Bob")
    last = await publish(client, owner, "lead.created", who="Cy")
    page = await client.get(
        "/api/events", params={"type": "lead.created", "limit": 1}, headers=owner.headers
    )
    assert page.status_code == 200, page.text
    [newest] = page.json()["items"]
    assert (newest["id"], newest["data"]) == (last, {"who": "Cy"})
    rest = await client.get(
        "/api/events",
        params={"type": "lead.created", "cursor": page.json()["next_cursor"]},
        headers=owner.headers,
    )
    assert [e["id"] for e in rest.json()["items"]] == [first]
    assert rest.json()["next_cursor"] is None
    event = await settled(client, owner, first)
    deliveries = {d["subscriber"]: d for d in event["deliveries"]}
    assert deliveries["triggers"]["status"] == "delivered"
    assert deliveries["triggers"]["attempts"] == 1 and deliveries["flaky"]["status"] == "dead"

    stranger = await signup(client, tenant_name="Other")
    assert (await client.get("/api/events", headers=stranger.headers)).json()["items"] == []
    assert_problem(await client.get(f"/api/events/{first}", headers=stranger.headers), 404)
    viewer = await add_member(client, owner, "viewer")
    assert_problem(await client.get("/api/events", headers=viewer.headers), 403)
    editor = await add_member(client, owner, "editor")
    assert (await client.get("/api/events", headers=editor.headers)).status_code == 200
    bad = await client.get("/api/events", params={"type": "no spaces"}, headers=owner.headers)
    assert_problem(bad, 422)


async def test_a_dead_delivery_is_listed_and_replayed_to_its_subscriber_only(
    client: httpx.AsyncClient, owner: Account, flaky: Recorder
) -> None:
    event_id = await publish(client, owner, "invoice.paid", amount=12)
    await settled(client, owner, event_id)
    dead = await client.get("/api/events/dead-letters", headers=owner.headers)
    assert dead.status_code == 200, dead.text
    [letter] = dead.json()["items"]
    assert (letter["event_id"], letter["subscriber"], letter["event_type"]) == (
        event_id,
        "flaky",
        "invoice.paid",
    )
    assert letter["last_error"] == "RuntimeError: subscriber down (call 1)"
    filtered = await client.get(
        "/api/events/dead-letters", params={"subscriber": "triggers"}, headers=owner.headers
    )
    assert filtered.json()["items"] == []

    editor = await add_member(client, owner, "editor")
    assert_problem(await client.post(f"/api/events/{event_id}/replay", headers=editor.headers), 403)
    flaky.broken = False  # the cause is fixed
    replayed = await client.post(f"/api/events/{event_id}/replay", headers=owner.headers)
    assert replayed.status_code == 200, replayed.text
    assert replayed.json() == {"event_id": event_id, "subscribers": ["flaky"]}
    event = await settled(client, owner, event_id)
    deliveries = {d["subscriber"]: d for d in event["deliveries"]}
    assert deliveries["flaky"]["status"] == "delivered"
    assert deliveries["triggers"]["attempts"] == 1  # not redelivered to the others
    assert [e.data for e in flaky.handled] == [{"amount": 12}]
    assert (await client.get("/api/events/dead-letters", headers=owner.headers)).json()[
        "items"
    ] == []

    again = assert_problem(
        await client.post(f"/api/events/{event_id}/replay", headers=owner.headers), 409
    )
    assert "no dead delivery to replay" in again["detail"]
    assert "flaky: delivered" in again["detail"]
