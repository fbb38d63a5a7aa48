"""What only the Celery executor does: steps run in the worker process, which reads secrets
and earlier outputs from the database itself, and drops tasks that are no longer current.
(The engine suite itself runs on both executors: see conftest.CELERY_MODULES.)"""

from __future__ import annotations

import asyncio
import os
import uuid
from typing import Any

import httpx
from pydantic import BaseModel

from auterity.automatrix.actions.base import Action, ActionContext, ActionInput
from auterity.automatrix.executors.attempts import run_task
from auterity.automatrix.executors.base import StepTask
from auterity.automatrix.executors.celery import CeleryExecutor
from tests.integration.automatrix.conftest import CelerySite, save, save_and_run, steps_by_id
from tests.integration.automatrix.test_engine import Sleep
from tests.integration.identity.conftest import Account


class WhereInput(ActionInput):
    value: Any = None


class WhereOutput(BaseModel):
    pid: int
    value: Any = None
    key: str


class Where(Action[WhereInput, WhereOutput]):
    """Tells which process ran it, with what, under which idempotency key."""

    name = "test.where"
    Input = WhereInput
    Output = WhereOutput

    async def run(self, ctx: ActionContext, params: WhereInput) -> WhereOutput:
        return WhereOutput(pid=os.getpid(), value=params.value, key=ctx.idempotency_key)


WHERE = """
name: where-NAME
steps:
  - {id: first, uses: test.where, with: {value: 2}}
  - id: items
    uses: test.where
    for_each: "{{ [steps.first.output.value, 3] }}"
    with: {value: "{{ item * 10 }}"}
  - id: secret
    uses: test.where
    with: {value: "{{ secrets.WORD | length }} {{ secrets.WORD }}"}
  - id: secret_items
    uses: test.where
    for_each: "{{ [secrets.WORD] }}"
    with: {value: "{{ item | upper }}"}
"""


def _engine(client: httpx.AsyncClient) -> Any:
    app = client._transport.app  # type: ignore[attr-defined]
    app.state.actions = app.state.engine.registry = app.state.actions.with_overrides(
        {Where.name: Where, Sleep.name: Sleep}
    )
    assert isinstance(app.state.engine.executor, CeleryExecutor)
    return app.state.engine


async def test_steps_and_items_run_in_the_worker_which_reads_outputs_and_secrets_itself(
    client: httpx.AsyncClient, owner: Account, celery_site: CelerySite
) -> None:
    _engine(client)
    stored = await client.put(
        "/api/secrets/WORD", json={"value": "swordfish"}, headers=owner.headers
    )
    assert stored.status_code == 200, stored.text
    body = await save_and_run(client, owner, WHERE.replace("NAME", uuid.uuid4().hex[:6]))
    assert body["status"] == "succeeded", body
    steps = steps_by_id(body)
    worker = celery_site.process.pid
    assert steps["first"]["output"]["pid"] == worker != os.getpid()
    assert [o["pid"] for o in steps["items"]["output"]] == [worker, worker]
    assert [o["value"] for o in steps["items"]["output"]] == [20, 30]
    assert [o["key"] for o in steps["items"]["output"]] == [
        f"{body['id']}:items:0",
        f"{body['id']}:items:1",
    ]
    # Resolved on the worker (the task carries no secret), redacted in what came back; a
    # for_each list that holds a secret is rendered there too rather than sent.
    assert steps["secret"]["output"]["value"] == "9 [secret:WORD]"
    assert steps["secret_items"]["output"][0]["value"] == "SWORDFISH"


async def test_a_task_for_an_attempt_no_longer_running_is_dropped(
    client: httpx.AsyncClient, owner: Account
) -> None:
    engine = _engine(client)
    spec = f"""
name: hold-{uuid.uuid4().hex[:6]}
steps:
  - {{id: wait, uses: test.sleep, with: {{seconds: 1}}}}
"""
    workflow = await save(client, owner, spec)
    started = await client.post(
        f"/api/workflows/{workflow['id']}/runs", json={}, headers=owner.headers
    )
    run_id = started.json()["id"]
    for _ in range(100):
        run = (await client.get(f"/api/runs/{run_id}", headers=owner.headers)).json()
        if run["steps"] and run["steps"][0]["status"] == "running":
            break
        await asyncio.sleep(0.02)
    assert run["steps"][0]["status"] == "running"
    key = f"{run_id}:wait"
    # A redelivered copy of an attempt the driver has moved past is not run...
    assert await run_task(engine, StepTask(uuid.UUID(run_id), "wait", 2, key)) is None
    assert await engine.wait_for(uuid.UUID(run_id), 10) == "succeeded"
    # ...nor is any attempt of a run that has ended.
    assert await run_task(engine, StepTask(uuid.UUID(run_id), "wait", 1, key)) is None
