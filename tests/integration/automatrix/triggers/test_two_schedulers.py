"""Two cron schedulers in two processes against one database fire each time exactly once."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from pathlib import Path

import httpx
from sqlalchemy import func, select

from auterity.automatrix.models import Run
from auterity.automatrix.triggers.models import TriggerFiring
from auterity.core.clock import FrozenClock
from auterity.core.database import Database
from auterity.core.settings import Settings
from tests.integration.automatrix.triggers.conftest import greet_workflow, make_trigger
from tests.integration.identity.conftest import Account

ROOT = Path(__file__).resolve().parents[4]
TRIGGERS = 6
BACKLOG = 12  # minutes both processes find due at once (09:00..09:11)
MINUTES = 6  # then stepped minute by minute (09:12..09:17)


async def test_two_scheduler_processes_fire_each_time_exactly_once(
    clock: FrozenClock,
    client: httpx.AsyncClient,
    frozen_owner: Account,
    db: Database,
    settings: Settings,
    tmp_path: Path,
) -> None:
    workflow_id = await greet_workflow(client, frozen_owner)
    for index in range(TRIGGERS):
        await make_trigger(
            client,
            frozen_owner,
            name=f"minutely {index}",
            kind="cron",
            workflow_id=workflow_id,
            cron="* * * * *",
            inputs={"who": "{{ scheduled_at }}"},
        )
    processes = []
    for name in ("a", "b"):
        config = {
            "database_url": settings.database_url,
            "database_schema": settings.database_schema or "",
            "data_dir": str(tmp_path / f"var-{name}"),
            "start": clock.now().isoformat(),
            "backlog": BACKLOG,
            "minutes": MINUTES,
        }
        processes.append(
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.integration.automatrix.triggers.scheduler_process",
                json.dumps(config),
                cwd=ROOT,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        )
    for process in processes:
        assert process.stdout is not None
        assert await asyncio.wait_for(process.stdout.readline(), 60) == b"ready\n"
    for process in processes:  # go: both at once
        assert process.stdin is not None
        process.stdin.write(b"go\n")
        await process.stdin.drain()
    results = []
    for process in processes:
        output, errors = await asyncio.wait_for(process.communicate(), 180)
        assert process.returncode == 0, errors.decode()[-3000:]
        results.append(json.loads(output.decode().strip().splitlines()[-1]))
    claimed = [set(result["claimed"]) for result in results]

    async with db.session(readonly=True) as session:
        per_time = (
            await session.execute(
                select(TriggerFiring.trigger_id, TriggerFiring.scheduled_at, func.count()).group_by(
                    TriggerFiring.trigger_id, TriggerFiring.scheduled_at
                )
            )
        ).all()
        firings = list((await session.execute(select(TriggerFiring))).scalars())
        runs = (
            await session.execute(
                select(func.count()).where(Run.workflow_id == uuid.UUID(workflow_id))
            )
        ).scalar_one()
    assert len(per_time) == TRIGGERS * (BACKLOG + MINUTES)  # every trigger, every minute
    assert {count for _, _, count in per_time} == {1}  # and each of them once
    assert all(f.outcome == "started" and f.run_id for f in firings)
    assert runs == len({f.run_id for f in firings}) == TRIGGERS * (BACKLOG + MINUTES)
    # Each firing was claimed by exactly one process; and they did contend: claims were lost,
    # i.e. both processes went for the same scheduled times at once. (Which one wins is
    # up to the database: on SQLite one process may win them all.)
    assert claimed[0].isdisjoint(claimed[1])
    assert claimed[0] | claimed[1] == {str(f.id) for f in firings}
    split = [(len(c), result["lost"]) for c, result in zip(claimed, results, strict=True)]
    assert sum(result["lost"] for result in results) > 0, split
    print("claimed, lost per process:", split)
