"""Helpers for trigger tests: a workflow to trigger, and triggers made through the API."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from auterity.automatrix.triggers.scheduler import TriggerScheduler
from auterity.core.clock import FrozenClock, set_clock
from auterity.core.settings import Settings
from tests.integration.automatrix.conftest import save
from tests.integration.identity.conftest import Account, signup

GREET = {
    "inputs": {"type": "object", "properties": {"who": {"type": "string"}}, "required": ["who"]},
    "steps": [{"id": "hello", "uses": "transform", "with": {"value": "Hello {{ inputs.who }}"}}],
    "outputs": {"greeting": "{{ steps.hello.output.value }}"},
}


async def greet_workflow(client: httpx.AsyncClient, account: Account) -> str:
    """A workflow that needs input `who` and outputs `greeting`; answers its id."""
    saved = await save(client, account, {**GREET, "name": f"greet-{uuid.uuid4().hex[:6]}"})
    return str(saved["id"])


async def make_trigger(
    client: httpx.AsyncClient, account: Account, **fields: Any
) -> dict[str, Any]:
    created = await client.post("/api/triggers", json=fields, headers=account.headers)
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


async def firings(client: httpx.AsyncClient, account: Account, trigger_id: str) -> list[Any]:
    page = await client.get(f"/api/triggers/{trigger_id}/firings", headers=account.headers)
    assert page.status_code == 200, page.text
    items: list[Any] = page.json()["items"]
    return items


@pytest.fixture
async def app(app_factory: Any, settings: Settings) -> AsyncIterator[FastAPI]:
    # The background cron loop ticks once at start and then not within a test: tests tick.
    slow = settings.model_copy(update={"trigger_poll_seconds": 60})
    application = app_factory(settings=slow)
    # Generous, like the shared `app` fixture: a loaded machine can take seconds to stop.
    async with LifespanManager(application, startup_timeout=30, shutdown_timeout=30):
        yield application


@pytest.fixture
async def frozen_owner(clock: FrozenClock, client: httpx.AsyncClient) -> Account:
    """An account made under the frozen clock, so its token is valid at the clock's time."""
    return await signup(client)


def scheduler_of(app: FastAPI) -> TriggerScheduler:
    scheduler: TriggerScheduler = app.state.scheduler
    return scheduler


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    frozen = FrozenClock(datetime(2026, 3, 2, 8, 59, 30, tzinfo=UTC))
    previous = set_clock(frozen)
    try:
        yield frozen
    finally:
        set_clock(previous)
