"""The engine without HTTP: resuming a dead process's run, cancels from another process,
handing runs back on stop, many runs sharing transactions, and the writer's failure isolation.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from pydantic import BaseModel
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from auterity.automatrix import service
from auterity.automatrix.actions.base import Action, ActionContext, ActionInput
from auterity.automatrix.actions.registry import ActionRegistry
from auterity.automatrix.engine import Engine
from auterity.automatrix.models import Run, RunEvent, StepRun, Workflow
from auterity.automatrix.writer import Changes, Writer
from auterity.core.clock import utcnow
from auterity.core.database import Database
from auterity.core.errors import NotFound
from auterity.core.ids import new_id
from auterity.core.tenancy import bind_tenant
from auterity.identity.accounts import create_tenant_with_owner

CALLS: list[str] = []  # idempotency keys the counting action ran with


class CountInput(ActionInput):
    value: Any = None


class CountOutput(BaseModel):
    value: Any = None


class Count(Action[CountInput, CountOutput]):
    """Records each call's idempotency key, to tell which steps ran (again)."""

    name = "test.count"
    Input = CountInput
    Output = CountOutput

    async def run(self, ctx: ActionContext, params: CountInput) -> CountOutput:
        CALLS.append(ctx.idempotency_key)
        return CountOutput(value=params.value)


class HoldInput(ActionInput):
    seconds: float


class Hold(Action[HoldInput, CountOutput]):
    """Holds its worker, so the run is mid-step when the test acts."""

    name = "test.hold"
    Input = HoldInput
    Output = CountOutput

    async def run(self, ctx: ActionContext, params: HoldInput) -> CountOutput:
        await asyncio.sleep(params.seconds)
        return CountOutput(value=params.seconds)


def registry() -> ActionRegistry:
    return ActionRegistry.from_entry_points().with_overrides({Count.name: Count, Hold.name: Hold})


@pytest.fixture
async def tenant_id(db: Database) -> uuid.UUID:
    async with db.session() as session:
        tenant, _ = await create_tenant_with_owner(
            session,
            email=f"engine-{uuid.uuid4().hex[:8]}@example.com",
            password="correct horse battery staple",
            tenant_name="Engine",
        )
    return tenant.id


@pytest.fixture
async def engine(db: Database) -> AsyncIterator[Engine]:
    engine = Engine(db, registry())
    await engine.start()
    try:
        yield engine
    finally:
        await engine.stop()


async def save(db: Database, tenant_id: uuid.UUID, document: dict[str, Any]) -> Workflow:
    spec = service.checked_spec(document, registry())
    async with db.session() as session:
        bind_tenant(session, tenant_id)
        workflow, _ = await service.create_workflow(session, spec, document, None, None)
    return workflow


async def start(
    db: Database, tenant_id: uuid.UUID, workflow: Workflow, count: int = 1
) -> list[Run]:
    async with db.session() as session:
        bind_tenant(session, tenant_id)
        return [
            (
                await service.start_run(
                    session, workflow, {}, version=None, idempotency_key=None, created_by=None
                )
            )[0]
            for _ in range(count)
        ]


async def events(db: Database, run_id: uuid.UUID) -> list[tuple[int, str]]:
    async with db.session(readonly=True) as session:
        rows = await session.execute(
            select(RunEvent.seq, RunEvent.type)
            .where(RunEvent.run_id == run_id)
            .order_by(RunEvent.seq)
        )
        return [(seq, type_) for seq, type_ in rows.tuples()]


async def test_a_run_left_by_a_dead_process_resumes_where_it_stopped(
    db: Database, tenant_id: uuid.UUID
) -> None:
    workflow = await save(
        db,
        tenant_id,
        {
            "name": "resumed",
            "steps": [
                {"id": "a", "uses": "test.count", "with": {"value": 1}},
                {
                    "id": "b",
                    "uses": "test.count",
                    "with": {"value": "{{ steps.a.output.value + 1 }}"},
                },
            ],
            "outputs": {"b": "{{ steps.b.output.value }}"},
        },
    )
    (run,) = await start(db, tenant_id, workflow)
    # What a process that died while running b leaves behind: a done, b running, 3 events.
    started = utcnow() - timedelta(minutes=5)
    async with db.session() as session:
        await session.execute(
            update(Run)
            .where(Run.id == run.id)
            .values(
                status="running",
                started_at=started,
                lease_owner="dead-host:1:abc",
                lease_expires_at=utcnow() - timedelta(seconds=1),
                event_seq=3,
            )
        )
        for step_id, status, output in (("a", "succeeded", {"value": 1}), ("b", "running", None)):
            session.add(
                StepRun(
                    tenant_id=tenant_id,
                    run_id=run.id,
                    step_id=step_id,
                    item_index=-1,
                    status=status,
                    attempt=1,
                    output=output,
                    started_at=started,
                    idempotency_key=f"{run.id}:{step_id}",
                )
            )
        for seq, type_ in enumerate(("run.started", "step.started", "step.succeeded"), 1):
            session.add(RunEvent(tenant_id=tenant_id, run_id=run.id, seq=seq, type=type_, data={}))
    engine = Engine(db, registry())
    await engine.start()
    try:
        assert await engine.wait_for(run.id, 10) == "succeeded"
    finally:
        await engine.stop()
    ran = [key for key in CALLS if key.startswith(str(run.id))]
    assert ran == [f"{run.id}:b"]  # a kept, b run again with the same key
    async with db.session(readonly=True) as session:
        stored = (await session.execute(select(Run).where(Run.id == run.id))).scalar_one()
        b = (
            await session.execute(
                select(StepRun).where(StepRun.run_id == run.id, StepRun.step_id == "b")
            )
        ).scalar_one()
    assert stored.outputs == {"b": 2} and stored.lease_owner is None
    assert b.status == "succeeded" and b.attempt == 2
    numbered = await events(db, run.id)
    assert [seq for seq, _ in numbered] == list(range(1, len(numbered) + 1))
    assert [t for _, t in numbered[3:]] == ["step.started", "step.succeeded", "run.succeeded"]
    assert stored.event_seq == len(numbered)


async def test_a_cancel_asked_in_another_process_is_seen(
    db: Database, tenant_id: uuid.UUID, engine: Engine
) -> None:
    workflow = await save(
        db,
        tenant_id,
        {
            "name": "held",
            "steps": [
                {"id": "hold", "uses": "test.hold", "with": {"seconds": 30}},
                {"id": "after", "uses": "test.count", "needs": ["hold"]},
            ],
        },
    )
    (run,) = await start(db, tenant_id, workflow)
    engine.wake(run.id)
    for _ in range(100):
        async with db.session(readonly=True) as session:
            status = (
                await session.execute(
                    select(StepRun.status).where(
                        StepRun.run_id == run.id, StepRun.step_id == "hold"
                    )
                )
            ).scalar_one_or_none()
        if status == "running":
            break
        await asyncio.sleep(0.02)
    # Another process (an API worker) asks; nobody wakes this engine.
    async with db.session() as session:
        await session.execute(update(Run).where(Run.id == run.id).values(cancel_requested=True))
    assert await engine.wait_for(run.id, 5) == "cancelled"
    async with db.session(readonly=True) as session:
        steps = dict(
            (
                await session.execute(
                    select(StepRun.step_id, StepRun.status).where(StepRun.run_id == run.id)
                )
            )
            .tuples()
            .all()
        )
    assert steps == {"hold": "cancelled", "after": "cancelled"}
    assert (await events(db, run.id))[-1][1] == "run.cancelled"


async def test_stop_hands_runs_back_and_another_engine_finishes_them(
    db: Database, tenant_id: uuid.UUID
) -> None:
    workflow = await save(
        db,
        tenant_id,
        {
            "name": "handed-over",
            "steps": [
                {"id": "wait", "uses": "delay", "with": {"seconds": 0.5}},
                {"id": "then", "uses": "test.count", "needs": ["wait"], "with": {"value": 7}},
            ],
            "outputs": {"then": "{{ steps.then.output.value }}"},
        },
    )
    (run,) = await start(db, tenant_id, workflow)
    first = Engine(db, registry(), owner="first")
    await first.start()
    first.wake(run.id)
    for _ in range(100):
        async with db.session(readonly=True) as session:
            waiting = (
                await session.execute(
                    select(StepRun.status).where(
                        StepRun.run_id == run.id, StepRun.step_id == "wait"
                    )
                )
            ).scalar_one_or_none()
        if waiting == "waiting":
            break
        await asyncio.sleep(0.02)
    await first.stop()
    async with db.session(readonly=True) as session:
        owner = (
            await session.execute(select(Run.lease_owner).where(Run.id == run.id))
        ).scalar_one()
    assert owner is None  # released, not left to lapse
    second = Engine(db, registry(), owner="second")
    await second.start()
    try:
        assert await second.wait_for(run.id, 10) == "succeeded"
    finally:
        await second.stop()
    numbered = await events(db, run.id)
    assert [seq for seq, _ in numbered] == list(range(1, len(numbered) + 1))
    assert sum(t == "run.started" for _, t in numbered) == 1


async def test_many_runs_at_once_each_end_right(
    db: Database, tenant_id: uuid.UUID, engine: Engine
) -> None:
    """Their changes share transactions; each run still gets its own rows and numbering."""
    workflow = await save(
        db,
        tenant_id,
        {
            "name": "many",
            "steps": [
                {"id": "a", "uses": "test.count", "with": {"value": "{{ run.id }}"}},
                {"id": "b", "uses": "transform", "with": {"value": "{{ steps.a.output.value }}"}},
                {
                    "id": "c",
                    "uses": "test.count",
                    "for_each": "{{ range(3) | list }}",
                    "with": {"value": "{{ item }}"},
                },
            ],
            "outputs": {"b": "{{ steps.b.output.value }}", "c": "{{ steps.c.output | length }}"},
        },
    )
    runs = await start(db, tenant_id, workflow, 60)
    engine.wake()
    statuses = await asyncio.gather(*(engine.wait_for(run.id, 60) for run in runs))
    assert statuses == ["succeeded"] * len(runs)
    async with db.session(readonly=True) as session:
        outputs = dict(
            (
                await session.execute(
                    select(Run.id, Run.outputs).where(Run.id.in_([r.id for r in runs]))
                )
            )
            .tuples()
            .all()
        )
    assert all(outputs[run.id] == {"b": str(run.id), "c": 3} for run in runs)
    for run in runs[:5]:
        numbered = await events(db, run.id)
        assert [seq for seq, _ in numbered] == list(range(1, 9))  # started, 3 x 2, finished


async def test_wait_for_a_run_that_does_not_exist(engine: Engine) -> None:
    with pytest.raises(NotFound):
        await engine.wait_for(new_id(), 2)


async def test_the_writer_fails_only_the_part_at_fault(db: Database, tenant_id: uuid.UUID) -> None:
    workflow = await save(db, tenant_id, {"name": "w", "steps": [{"id": "a", "uses": "transform"}]})
    run, other = await start(db, tenant_id, workflow, 2)

    def event(run_id: uuid.UUID, seq: int) -> dict[str, Any]:
        return {
            "id": new_id(),
            "tenant_id": tenant_id,
            "run_id": run_id,
            "seq": seq,
            "type": "test",
            "data": {},
            "created_at": utcnow(),
        }

    writer = Writer(db)
    clash = event(run.id, 1)
    await writer.write(Changes(events=[clash]))
    # Queued together, so the writer first tries them in one transaction.
    good, bad = await asyncio.gather(
        writer.write(Changes(events=[event(other.id, 1)])),
        writer.write(Changes(events=[event(run.id, 1)])),  # (run, seq) is taken
        return_exceptions=True,
    )
    assert good is None and isinstance(bad, IntegrityError)
    assert await events(db, other.id) == [(1, "test")]
    assert await events(db, run.id) == [(1, "test")]
