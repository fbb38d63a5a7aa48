"""The cron scheduler in the engine's process, on a frozen clock: on-time firings, misfires
after downtime, pause, end dates, and firings whose run could not start."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from auterity.core.clock import FrozenClock
from tests.integration.automatrix.triggers.conftest import (
    firings,
    greet_workflow,
    make_trigger,
    scheduler_of,
)
from tests.integration.identity.conftest import Account


async def every_minute(client: httpx.AsyncClient, owner: Account, **fields: Any) -> dict[str, Any]:
    workflow_id = await greet_workflow(client, owner)
    return await make_trigger(
        client,
        owner,
        name="every minute",
        kind="cron",
        workflow_id=workflow_id,
        cron="* * * * *",
        inputs={"who": "{{ scheduled_at }}"},
        **fields,
    )


async def test_each_scheduled_time_fires_once_and_runs(
    app: FastAPI, client: httpx.AsyncClient, frozen_owner: Account, clock: FrozenClock
) -> None:
    trigger = await every_minute(client, frozen_owner)
    scheduler = scheduler_of(app)
    assert await scheduler.tick() == []  # 08:59:30: nothing due before 09:00
    clock.advance(45)
    assert len(await scheduler.tick()) == 1
    assert await scheduler.tick() == []  # 09:00 is taken: never twice
    [firing] = await firings(client, frozen_owner, trigger["id"])
    assert firing["scheduled_at"] == "2026-03-02T09:00:00Z" and firing["outcome"] == "started"
    status = await app.state.engine.wait_for(uuid.UUID(firing["run_id"]), 30)
    run = (await client.get(f"/api/runs/{firing['run_id']}", headers=frozen_owner.headers)).json()
    assert status == "succeeded"
    assert run["outputs"] == {"greeting": "Hello 2026-03-02T09:00:00+00:00"}
    read = (await client.get(f"/api/triggers/{trigger['id']}", headers=frozen_owner.headers)).json()
    assert read["next_fire_at"] == "2026-03-02T09:01:00Z"
    assert read["last_fired_at"] is not None


@pytest.mark.parametrize(
    ("policy", "expected"), [("skip", ["09:10"]), ("run_once", ["09:09", "09:10"])]
)
async def test_downtime_is_skipped_or_run_once(
    app: FastAPI,
    client: httpx.AsyncClient,
    frozen_owner: Account,
    clock: FrozenClock,
    policy: str,
    expected: list[str],
) -> None:
    trigger = await every_minute(client, frozen_owner, misfire=policy)
    clock.advance(10 * 60 + 45)  # nothing ran from 08:59:30 to 09:10:15
    await scheduler_of(app).tick()
    fired = [f["scheduled_at"][11:16] for f in await firings(client, frozen_owner, trigger["id"])]
    assert sorted(fired) == expected


async def test_paused_and_ended_triggers_do_not_fire(
    app: FastAPI, client: httpx.AsyncClient, frozen_owner: Account, clock: FrozenClock
) -> None:
    paused = await every_minute(client, frozen_owner)
    await client.post(f"/api/triggers/{paused['id']}/pause", headers=frozen_owner.headers)
    ending = await every_minute(client, frozen_owner, ends_at="2026-03-02T09:01:00Z")
    scheduler = scheduler_of(app)
    for _ in range(4):
        clock.advance(60)
        await scheduler.tick()
    assert await firings(client, frozen_owner, paused["id"]) == []
    ended = [f["scheduled_at"] for f in await firings(client, frozen_owner, ending["id"])]
    assert sorted(ended) == ["2026-03-02T09:00:00Z", "2026-03-02T09:01:00Z"]
    read = (await client.get(f"/api/triggers/{ending['id']}", headers=frozen_owner.headers)).json()
    assert read["next_fire_at"] is None


async def test_a_run_that_cannot_start_is_a_failed_firing(
    app: FastAPI, client: httpx.AsyncClient, frozen_owner: Account, clock: FrozenClock
) -> None:
    # The workflow requires `who`; a trigger without inputs gives none.
    workflow_id = await greet_workflow(client, frozen_owner)
    trigger = await make_trigger(
        client,
        frozen_owner,
        name="no inputs",
        kind="cron",
        workflow_id=workflow_id,
        cron="* * * * *",
    )
    clock.advance(45)
    await scheduler_of(app).tick()
    [firing] = await firings(client, frozen_owner, trigger["id"])
    assert firing["outcome"] == "failed" and firing["run_id"] is None
    assert firing["error"]["kind"] == "validation-failed"
    assert firing["error"]["errors"][0]["pointer"] == "/inputs"
    runs = (
        await client.get(f"/api/runs?workflow_id={workflow_id}", headers=frozen_owner.headers)
    ).json()
    assert runs["items"] == []
