"""Deciding an `approval` step from outside the engine (the API), safely against its timeout.

Only the step row changes here (conditionally, so a timeout settled first wins). When a
driver holds the run's lease, it sees the decision and writes its `step.succeeded|failed`
event, since only that driver numbers the events of a live run; when none does (its process
stopped or died), the event is written here, and the engine that next claims the run goes on
from the decided step. The caller wakes the engine."""

from __future__ import annotations

import uuid
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from auterity.automatrix.events import record_event_if_undriven
from auterity.automatrix.models import StepRun, WorkflowVersion
from auterity.automatrix.service import get_run
from auterity.automatrix.spec import WorkflowSpec
from auterity.core.clock import utcnow
from auterity.core.errors import Conflict, NotFound, PermissionDenied
from auterity.identity import audit
from auterity.identity.principal import Principal


async def decide(
    session: AsyncSession,
    run_id: uuid.UUID,
    step_id: str,
    principal: Principal,
    *,
    approve: bool,
    comment: str | None,
) -> StepRun:
    run = await get_run(session, run_id)
    step = (
        await session.execute(
            select(StepRun).where(
                StepRun.run_id == run.id, StepRun.step_id == step_id, StepRun.item_index == -1
            )
        )
    ).scalar_one_or_none()
    version = (
        await session.execute(
            select(WorkflowVersion.spec).where(
                WorkflowVersion.workflow_id == run.workflow_id,
                WorkflowVersion.version == run.version,
            )
        )
    ).scalar_one()
    spec = WorkflowSpec.model_validate(version)
    if step is None or step_id not in {s.id for s in spec.steps}:
        raise NotFound(f"Run {run_id} has no step {step_id!r}.")
    if spec.step(step_id).uses != "approval":
        raise Conflict(f"Step {step_id!r} is not an approval step.")
    if step.status != "waiting":
        raise Conflict(f"Step {step_id!r} is not waiting for a decision (it is {step.status}).")
    approvers = list((step.input or {}).get("approvers") or [])
    if approvers and principal.label not in approvers and (principal.role or "") not in approvers:
        raise PermissionDenied(f"Only {', '.join(approvers)} may decide step {step_id!r}.")
    decided: dict[str, Any] = {
        "approved": approve,
        "decided_by": principal.label,
        "comment": comment,
    }
    values: dict[str, Any] = {
        "status": "succeeded" if approve else "failed",
        "finished_at": utcnow(),
        "output": decided,
        "error": None,
    }
    if not approve:
        values["error"] = {
            "kind": "rejected",
            "message": f"Rejected by {principal.label}" + (f": {comment}" if comment else "."),
        }
    result = await session.execute(
        update(StepRun).where(StepRun.id == step.id, StepRun.status == "waiting").values(**values)
    )
    if cast(CursorResult[Any], result).rowcount != 1:
        raise Conflict(f"Step {step_id!r} was decided or timed out meanwhile.")
    # The same event a driver would write (waits.refresh_waiting).
    announced: dict[str, Any] = {
        "step": step_id,
        "status": values["status"],
        "attempt": step.attempt,
        "decided_by": principal.label,
    }
    if values["error"]:
        announced["error"] = values["error"]
    await record_event_if_undriven(session, run, f"step.{values['status']}", announced)
    audit.record(
        session,
        "workflow.approval",
        "approved" if approve else "rejected",
        **principal.audit_actor(),
        target_type="run",
        target_id=run.id,
        details={"step": step_id, "comment": comment},
    )
    await session.flush()
    await session.refresh(step)
    return step
