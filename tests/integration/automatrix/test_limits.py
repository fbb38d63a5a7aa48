"""Tenant and platform concurrency caps, held by two engines sharing one database.

Each engine has its own settings cache and its own memory, as two processes would; the
caps hold only because admission counts in the database. A test action records how many
of its calls overlap, overall and per tenant.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import BaseModel
from sqlalchemy import select, update

from auterity.automatrix import service
from auterity.automatrix.actions.base import Action, ActionContext, ActionInput
from auterity.automatrix.actions.registry import ActionRegistry
from auterity.automatrix.engine import Engine
from auterity.automatrix.limits import ConcurrencyLimits, tenant_caps_from_settings
from auterity.automatrix.models import Run
from auterity.core.cache import Cache
from auterity.core.database import Database
from auterity.core.tenancy import bind_tenant
from auterity.identity.accounts import create_tenant_with_owner
from auterity.identity.models import Tenant

INFLIGHT: Counter[str] = Counter()
PEAK: Counter[str] = Counter()


class TrackInput(ActionInput):
    seconds: float
    keys: list[str]


class TrackOutput(BaseModel):
    done: bool = True


class Track(Action[TrackInput, TrackOutput]):
    """Counts overlapping calls under each of its keys (the peak is what the test checks)."""

    name = "test.track"
    Input = TrackInput
    Output = TrackOutput

    async def run(self, ctx: ActionContext, params: TrackInput) -> TrackOutput:
        for key in params.keys:
            INFLIGHT[key] += 1
            PEAK[key] = max(PEAK[key], INFLIGHT[key])
        try:
            await asyncio.sleep(params.seconds)
        finally:
            for key in params.keys:
                INFLIGHT[key] -= 1
        return TrackOutput()


def registry() -> ActionRegistry:
    return ActionRegistry.from_entry_points().with_overrides({Track.name: Track})


async def new_tenant(db: Database, caps: dict[str, Any] | None = None) -> uuid.UUID:
    async with db.session() as session:
        tenant, _ = await create_tenant_with_owner(
            session,
            email=f"caps-{uuid.uuid4().hex[:8]}@example.com",
            password="correct horse battery staple",
            tenant_name="Caps",
        )
        if caps:
            await session.execute(
                update(Tenant).where(Tenant.id == tenant.id).values(settings={"engine": caps})
            )
    return tenant.id


@pytest.fixture
async def engines(db: Database) -> AsyncIterator[Any]:
    started: list[Engine] = []

    async def make(*, runs: int | None = None, steps: int | None = None) -> list[Engine]:
        for index in range(2):
            limits = ConcurrencyLimits(
                db,
                max_runs=runs,
                max_steps=steps,
                tenant_caps=tenant_caps_from_settings(db, Cache()),
            )
            engine = Engine(
                db, registry(), owner=f"engine-{index}", poll_interval=0.05, limits=limits
            )
            await engine.start()
            started.append(engine)
        return started

    yield make
    for engine in started:
        await engine.stop()


def steps(tag: str, count: int, seconds: float) -> dict[str, Any]:
    return {
        "name": f"{tag}-{uuid.uuid4().hex[:6]}",
        "steps": [
            {
                "id": f"s{index}",
                "uses": "test.track",
                "with": {"seconds": seconds, "keys": [tag, f"{tag}:{{{{ inputs.tenant }}}}"]},
            }
            for index in range(count)
        ],
    }


async def start_runs(
    db: Database, tenant_id: uuid.UUID, document: dict[str, Any], count: int
) -> list[uuid.UUID]:
    spec = service.checked_spec(document, registry())
    async with db.session() as session:
        bind_tenant(session, tenant_id)
        workflow, _ = await service.create_workflow(session, spec, document, None, None)
        return [
            (
                await service.start_run(
                    session,
                    workflow,
                    {"tenant": str(tenant_id)},
                    version=None,
                    idempotency_key=None,
                    created_by=None,
                )
            )[0].id
            for _ in range(count)
        ]


async def finish(engine: Engine, run_ids: list[uuid.UUID]) -> list[str]:
    return list(await asyncio.gather(*(engine.wait_for(run_id, 30) for run_id in run_ids)))


async def test_step_caps_hold_across_engines_and_every_step_runs(
    db: Database, engines: Any
) -> None:
    tag = f"steps-{uuid.uuid4().hex[:6]}"
    capped = await new_tenant(db, {"max_concurrent_steps": 2})
    free = await new_tenant(db)
    document = steps(tag, 4, 0.15)
    first, second = await engines(steps=3)
    runs = await start_runs(db, capped, document, 3) + await start_runs(db, free, document, 3)
    for engine in (first, second):
        engine.wake()
    assert await finish(first, runs) == ["succeeded"] * 6
    assert PEAK[tag] == 3  # the platform cap, reached and never passed
    assert PEAK[f"{tag}:{capped}"] <= 2
    assert PEAK[f"{tag}:{free}"] >= 2
    async with db.session(readonly=True) as session:
        owners = set(
            (await session.execute(select(Run.lease_owner).where(Run.id.in_(runs)))).scalars()
        )
    assert owners == {None}


async def test_run_caps_hold_and_a_full_tenant_does_not_hold_back_another(
    db: Database, engines: Any
) -> None:
    tag = f"runs-{uuid.uuid4().hex[:6]}"
    capped = await new_tenant(db, {"max_concurrent_runs": 1})
    free = await new_tenant(db)
    first, second = await engines(runs=3)
    # The capped tenant's runs are older, so they head the queue the engines claim from.
    # One at a time they need 4 s at least; the free tenant's short runs need far less, so
    # it finishes first however slow the machine is, unless the cap held it back.
    waiting = await start_runs(db, capped, steps(tag, 1, 1.0), 4)
    others = await start_runs(db, free, steps(tag, 1, 0.05), 4)
    for engine in (first, second):
        engine.wake()
    assert await finish(first, others) == ["succeeded"] * 4
    # The free tenant finished its four runs while the capped tenant, one at a time, could not.
    async with db.session(readonly=True) as session:
        unfinished = (
            await session.execute(
                select(Run.id).where(Run.id.in_(waiting), Run.status != "succeeded")
            )
        ).all()
    assert unfinished
    assert await finish(second, waiting) == ["succeeded"] * 4
    assert PEAK[tag] <= 3
    assert PEAK[f"{tag}:{capped}"] == 1
    assert PEAK[f"{tag}:{free}"] >= 2


async def test_with_no_caps_nothing_waits(db: Database, engines: Any) -> None:
    tag = f"open-{uuid.uuid4().hex[:6]}"
    tenant = await new_tenant(db)
    first, _ = await engines()
    runs = await start_runs(db, tenant, steps(tag, 5, 0.1), 2)
    first.wake()
    assert await finish(first, runs) == ["succeeded"] * 2
    assert PEAK[tag] == 10


async def test_a_sub_workflow_runs_within_its_callers_slots(db: Database, engines: Any) -> None:
    # One run and one step at a time: the caller's `workflow.call` holds both while it waits,
    # so a child that needed a slot of its own would wait forever.
    tag = f"child-{uuid.uuid4().hex[:6]}"
    tenant = await new_tenant(db, {"max_concurrent_runs": 1, "max_concurrent_steps": 1})
    child = steps(tag, 2, 0.05)
    spec = service.checked_spec(child, registry())
    async with db.session() as session:
        bind_tenant(session, tenant)
        await service.create_workflow(session, spec, child, None, None)
    parent = {
        "name": f"parent-{uuid.uuid4().hex[:6]}",
        "steps": [
            {
                "id": "call",
                "uses": "workflow.call",
                "with": {"workflow": child["name"], "inputs": {"tenant": "{{ inputs.tenant }}"}},
            }
        ],
    }
    first, _ = await engines()
    runs = await start_runs(db, tenant, parent, 2)
    first.wake()
    assert await finish(first, runs) == ["succeeded"] * 2
    assert PEAK[f"{tag}:{tenant}"] >= 1
