"""The triggers API: create, read, change, pause, delete; problems with pointers; permissions."""

from __future__ import annotations

import httpx

from auterity.core.clock import FrozenClock
from tests.integration.automatrix.triggers.conftest import greet_workflow, make_trigger
from tests.integration.identity.conftest import Account, add_member, assert_problem


async def test_cron_trigger_lifecycle(
    clock: FrozenClock, client: httpx.AsyncClient, frozen_owner: Account
) -> None:
    workflow_id = await greet_workflow(client, frozen_owner)
    created = await make_trigger(
        client,
        frozen_owner,
        name="weekday mornings",
        kind="cron",
        workflow_id=workflow_id,
        cron="0 9 * * mon-fri",
        timezone="Europe/Berlin",
        inputs={"who": "team"},
    )
    assert created["misfire"] == "skip" and created["enabled"] is True
    # 2026-03-02 is a Monday; 09:00 in Berlin is 08:00 UTC, already past at 08:59:30 UTC.
    assert created["next_fire_at"] == "2026-03-03T08:00:00Z"
    url = f"/api/triggers/{created['id']}"
    assert (await client.get(url, headers=frozen_owner.headers)).json()["cron"] == "0 9 * * mon-fri"

    changed = await client.patch(
        url, json={"timezone": "UTC", "misfire": "run_once"}, headers=frozen_owner.headers
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["next_fire_at"] == "2026-03-02T09:00:00Z"
    assert changed.json()["misfire"] == "run_once"

    paused = await client.post(f"{url}/pause", headers=frozen_owner.headers)
    assert paused.json()["enabled"] is False and paused.json()["next_fire_at"] is None
    clock.advance(120)
    resumed = await client.post(f"{url}/resume", headers=frozen_owner.headers)
    # Resumed from now: the 09:00 that passed while paused is not caught up.
    assert resumed.json()["enabled"] is True
    assert resumed.json()["next_fire_at"] == "2026-03-03T09:00:00Z"

    assert (await client.delete(url, headers=frozen_owner.headers)).status_code == 204
    assert_problem(await client.get(url, headers=frozen_owner.headers), 404)


async def test_bad_schedules_are_422_with_pointers(
    client: httpx.AsyncClient, owner: Account
) -> None:
    workflow_id = await greet_workflow(client, owner)
    bad = await client.post(
        "/api/triggers",
        json={
            "name": "bad",
            "kind": "cron",
            "workflow_id": workflow_id,
            "cron": "61 * * * *",
            "timezone": "Mars/Olympus",
            "starts_at": "2026-05-01T00:00:00Z",
            "ends_at": "2026-04-01T00:00:00Z",
            "filter": "true",
            "inputs": {"who": "{{ trigger.name "},
        },
        headers=owner.headers,
    )
    pointers = {e["pointer"] for e in assert_problem(bad, 422)["errors"]}
    assert pointers == {"/cron", "/timezone", "/ends_at", "/filter", "/inputs/who"}
    missing = await client.post(
        "/api/triggers",
        json={"name": "no cron", "kind": "cron", "workflow_id": workflow_id},
        headers=owner.headers,
    )
    assert [e["pointer"] for e in assert_problem(missing, 422)["errors"]] == ["/cron"]
    naive = await client.post(
        "/api/triggers",
        json={
            "name": "naive",
            "kind": "cron",
            "workflow_id": workflow_id,
            "cron": "* * * * *",
            "starts_at": "2026-05-01T00:00:00",
        },
        headers=owner.headers,
    )
    assert_problem(naive, 422)
    event = await make_trigger(
        client, owner, name="e", kind="event", workflow_id=workflow_id, event="lead.created"
    )
    unset = await client.patch(
        f"/api/triggers/{event['id']}",
        json={"event": None, "cron": "* * * * *"},
        headers=owner.headers,
    )
    assert {e["pointer"] for e in assert_problem(unset, 422)["errors"]} == {"/event", "/cron"}


async def test_a_trigger_needs_a_workflow_of_the_tenant(
    client: httpx.AsyncClient, owner: Account
) -> None:
    other = await client.post(
        "/api/triggers",
        json={
            "name": "x",
            "kind": "event",
            "event": "x",
            "workflow_id": "01900000-0000-7000-8000-000000000000",
        },
        headers=owner.headers,
    )
    assert_problem(other, 404)


async def test_viewers_list_editors_manage(client: httpx.AsyncClient, owner: Account) -> None:
    workflow_id = await greet_workflow(client, owner)
    viewer = await add_member(client, owner, "viewer")
    body = {"name": "t", "kind": "event", "event": "lead.created", "workflow_id": workflow_id}
    assert_problem(await client.post("/api/triggers", json=body, headers=viewer.headers), 403)
    created = await make_trigger(client, owner, **body)
    listed = await client.get("/api/triggers", headers=viewer.headers)
    assert [t["id"] for t in listed.json()["items"]] == [created["id"]]
    url = f"/api/triggers/{created['id']}"
    assert_problem(await client.post(f"{url}/pause", headers=viewer.headers), 403)
    assert_problem(await client.delete(url, headers=viewer.headers), 403)
    assert (await client.get(f"{url}/firings", headers=viewer.headers)).status_code == 200


async def test_listing_pages_and_filters(client: httpx.AsyncClient, owner: Account) -> None:
    workflow_id = await greet_workflow(client, owner)
    made = [
        await make_trigger(
            client, owner, name=f"t{i}", kind="event", event=f"e{i}", workflow_id=workflow_id
        )
        for i in range(3)
    ]
    await make_trigger(
        client, owner, name="c", kind="cron", cron="* * * * *", workflow_id=workflow_id
    )
    first = (await client.get("/api/triggers?kind=event&limit=2", headers=owner.headers)).json()
    second = (
        await client.get(
            f"/api/triggers?kind=event&limit=2&cursor={first['next_cursor']}",
            headers=owner.headers,
        )
    ).json()
    seen = [t["id"] for t in first["items"] + second["items"]]
    assert seen == [t["id"] for t in reversed(made)] and second["next_cursor"] is None


async def test_webhook_url_and_secret_are_shown_once(
    client: httpx.AsyncClient, owner: Account
) -> None:
    workflow_id = await greet_workflow(client, owner)
    created = await make_trigger(
        client, owner, name="hook", kind="webhook", workflow_id=workflow_id, signed=True
    )
    assert created["url"].startswith("/api/hooks/") and len(created["url"]) > 50
    assert created["signing_secret"].startswith("whsec_") and created["signed"] is True
    read = (await client.get(f"/api/triggers/{created['id']}", headers=owner.headers)).json()
    assert read.get("url") is None and read.get("signing_secret") is None
    listed = (await client.get("/api/triggers", headers=owner.headers)).text
    token = created["url"].rsplit("/", 1)[1]
    assert token not in listed and created["signing_secret"] not in listed
    # Turning signing off and on again makes a new secret, shown in that answer.
    url = f"/api/triggers/{created['id']}"
    await client.patch(url, json={"signed": False}, headers=owner.headers)
    again = (await client.patch(url, json={"signed": True}, headers=owner.headers)).json()
    assert again["signing_secret"] not in (None, created["signing_secret"])
