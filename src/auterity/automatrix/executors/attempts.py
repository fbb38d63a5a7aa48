"""The Celery executor, worker side: load one attempt from the database and run it.

The task names the attempt; everything else (inputs, the outputs of earlier steps, secrets)
is read here, from the rows the driver wrote before it sent the task. A task whose attempt
is no longer the running one (the run ended or moved on, or a redelivered copy of an attempt
already settled) is dropped without running.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from auterity.automatrix.actions.base import ActionError
from auterity.automatrix.context import expression_context, resolve_secrets
from auterity.automatrix.execution import Outcome, run_attempt, secret_names
from auterity.automatrix.executors.base import StepTask
from auterity.automatrix.expressions import ExpressionError, references, render_value
from auterity.automatrix.models import FINISHED_RUN, FINISHED_STEP, Run, StepRun
from auterity.automatrix.spec import StepSpec
from auterity.core.artifacts import is_reference

if TYPE_CHECKING:
    from auterity.automatrix.engine import Engine


async def run_task(engine: Engine, task: StepTask) -> Outcome | None:
    """The attempt's outcome, or None when the task is stale."""
    async with engine.db.session(readonly=True) as session:
        run = (await session.execute(select(Run).where(Run.id == task.run_id))).scalar_one_or_none()
    if run is None or run.status in FINISHED_RUN:
        return None
    # Outside the session: loading the plan (once per version) takes a connection of its own.
    plan = await engine.plan(run.workflow_id, run.version, run.step_overrides)
    step = next(s for s in plan.spec.steps if s.id == task.step_id)
    async with engine.db.session(readonly=True) as session:
        rows = await _rows(session, task, step)
    mine = next((r for r in rows if r.step_id == task.step_id), None)
    if mine is None or mine.status != "running" or mine.attempt != task.attempt:
        return None
    visible: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row.status in FINISHED_STEP or row.status == "waiting":
            output = row.output
            if is_reference(output):
                output = await engine.artifacts.get_json(output)
            visible[row.step_id] = {"output": output, "status": row.status, "error": row.error}
    names = secret_names(step)
    run_info = {"id": str(run.id), "started_at": str(run.started_at), "attempt": 1}
    try:
        secrets = await resolve_secrets(names, run.tenant_id, engine.secrets)
        item = task.item
        if task.item_index >= 0 and not task.item_sent:
            items = render_value(
                step.for_each, expression_context(run.inputs, visible, run_info, None, secrets)
            )
            item = items[task.item_index]
    except ActionError as exc:
        return Outcome("failed", error=exc.as_dict(), kind=exc.kind)
    except (ExpressionError, IndexError, TypeError) as exc:
        return Outcome("failed", error={"kind": "client_error", "message": f"for_each: {exc}"})
    return await run_attempt(
        step,
        engine.registry,
        expression_context(run.inputs, visible, run_info, item, secrets),
        engine.action_context(run, step.id, task.attempt, task.idempotency_key, item),
        secrets,
    )


async def _rows(session: AsyncSession, task: StepTask, step: StepSpec) -> list[StepRun]:
    """The step's own row and those of the steps its expressions read (all of them only when
    one reads `steps` by a computed name): not every row of a large run for every step."""
    query = select(StepRun).where(StepRun.run_id == task.run_id, StepRun.item_index == -1)
    read = {
        r for r in references(step.with_) | references(step.for_each or "") if r.root == "steps"
    }
    if all(r.name for r in read):
        query = query.where(StepRun.step_id.in_({task.step_id} | {str(r.name) for r in read}))
    return list((await session.execute(query)).scalars().all())
