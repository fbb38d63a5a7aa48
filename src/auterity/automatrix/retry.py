"""Retrying a finished run: a new run, pinned to the same version, that reuses the results of
the steps that succeeded upstream of where it restarts and runs the rest again.

A step's result is reused only when every step it depends on is reused too, so a retry
never mixes an old result with a new one it would have read. Steps re-run with new
idempotency keys: their earlier attempts failed (or are being redone on purpose), and a
provider that remembers a key would answer with the old failure.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from auterity.automatrix.actions.registry import ActionRegistry
from auterity.automatrix.events import record_event
from auterity.automatrix.graph import StepGraph
from auterity.automatrix.models import FINISHED_RUN, Run, StepRun
from auterity.automatrix.overrides import effective_spec, merge_patch, patched_document
from auterity.automatrix.service import get_version, get_workflow, prepare_inputs
from auterity.automatrix.spec import WorkflowSpec
from auterity.automatrix.validation import did_you_mean, validate
from auterity.core.errors import Conflict, FieldError, ValidationFailed


@dataclass(frozen=True)
class RetryPlan:
    restart_from: tuple[str, ...]  # the steps asked for (or the failed ones), in spec order
    reused: tuple[str, ...]
    rerun: tuple[str, ...]


def plan_retry(spec: WorkflowSpec, statuses: dict[str, str], restart_from: set[str]) -> RetryPlan:
    """Which steps keep their result: succeeded ones with nothing re-run upstream of them."""
    graph = StepGraph.build(spec)
    again = set(restart_from) | {s.id for s in spec.steps if statuses.get(s.id) != "succeeded"}
    pending = list(again)
    while pending:
        step_id = pending.pop()
        # Downstream: steps that read it, and its fallback (whose turn depends on its outcome).
        following = graph.dependents(step_id)
        if step_id in graph.fallbacks:
            following.add(graph.fallbacks[step_id])
        for other in following - again:
            again.add(other)
            pending.append(other)
    order = [s.id for s in spec.steps]
    return RetryPlan(
        restart_from=tuple(s for s in order if s in restart_from),
        reused=tuple(s for s in order if s not in again),
        rerun=tuple(s for s in order if s in again),
    )


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _check_targets(
    spec: WorkflowSpec, from_step: str | None, with_: dict[str, dict[str, Any]]
) -> None:
    ids = [step.id for step in spec.steps]
    errors: list[FieldError] = []
    if from_step is not None and from_step not in ids:
        errors.append(
            FieldError(
                "/from_step",
                f"unknown step {from_step!r}",
                did_you_mean(from_step, ids) or f"steps: {', '.join(ids)}",
            )
        )
    for step_id in with_:
        if step_id not in ids:
            errors.append(
                FieldError(
                    f"/with/{_escape(step_id)}",
                    f"unknown step {step_id!r}",
                    did_you_mean(step_id, ids) or f"steps: {', '.join(ids)}",
                )
            )
    if errors:
        raise ValidationFailed("The retry names steps the workflow does not have.", errors=errors)


def _overridden_spec(
    document: dict[str, Any],
    overrides: dict[str, dict[str, Any]],
    edited: set[str],
    registry: ActionRegistry,
) -> WorkflowSpec:
    """Validate the spec with the edited parameters; pointers name the retry body's fields."""
    patched = patched_document(document, overrides)
    report = validate(patched, registry)
    if report.spec is not None and not report.errors:
        return report.spec
    positions = {
        f"/steps/{index}/with": f"/with/{_escape(step['id'])}"
        for index, step in enumerate(patched["steps"])
        if isinstance(step, dict) and step.get("id") in edited
    }
    errors = []
    for error in report.errors:
        pointer = error.pointer
        for prefix, replacement in positions.items():
            if pointer == prefix or pointer.startswith(prefix + "/"):
                pointer = replacement + pointer[len(prefix) :]
        errors.append(FieldError(pointer, error.message, error.hint))
    raise ValidationFailed("The edited step parameters are invalid.", errors=errors)


async def retry_run(
    session: AsyncSession,
    registry: ActionRegistry,
    original: Run,
    *,
    from_step: str | None = None,
    inputs: dict[str, Any] | None = None,
    with_: dict[str, dict[str, Any]] | None = None,
    created_by: uuid.UUID | None = None,
) -> Run:
    """A queued run that retries `original`; `inputs` and `with_` are JSON Merge Patches."""
    if original.status not in FINISHED_RUN:
        raise Conflict(
            f"The run is still {original.status}; wait for it to end or cancel it, then retry."
        )
    edits = with_ or {}
    workflow = await get_workflow(session, original.workflow_id)
    version = await get_version(session, workflow, original.version)
    earlier = original.step_overrides or {}
    base = effective_spec(version.spec, earlier)
    _check_targets(base, from_step, edits)
    overrides = dict(earlier)
    for step_id, patch in edits.items():
        overrides[step_id] = merge_patch(base.step(step_id).with_, patch)
    spec = _overridden_spec(version.spec, overrides, set(edits), registry) if edits else base
    values = prepare_inputs(
        spec, merge_patch(original.inputs, inputs) if inputs is not None else original.inputs
    )

    rows = {
        row.step_id: row
        for row in (
            await session.execute(
                select(StepRun).where(StepRun.run_id == original.id, StepRun.item_index == -1)
            )
        ).scalars()
    }
    failed = {step_id for step_id, row in rows.items() if row.status == "failed"}
    restart = ({from_step} if from_step is not None else failed) | set(edits)
    plan = plan_retry(spec, {step_id: row.status for step_id, row in rows.items()}, restart)

    run = Run(
        tenant_id=original.tenant_id,
        workflow_id=original.workflow_id,
        version=original.version,
        inputs=values,
        status="queued",
        created_by=created_by,
        retry_of=original.id,
        step_overrides=overrides or None,
    )
    session.add(run)
    await session.flush()
    await record_event(
        session,
        run,
        "run.retry",
        {
            "retry_of": str(original.id),
            "restart_from": list(plan.restart_from),
            "reused": list(plan.reused),
            "rerun": list(plan.rerun),
            "edited_steps": sorted(edits),
            "inputs_changed": values != original.inputs,
        },
    )
    reused = set(plan.reused)
    for step in spec.steps:
        source = rows[step.id] if step.id in reused else None
        session.add(
            StepRun(
                tenant_id=run.tenant_id,
                run_id=run.id,
                step_id=step.id,
                item_index=-1,
                idempotency_key=f"{run.id}:{step.id}",
                **(_copied(source, original.id) if source else {"status": "pending"}),
            )
        )
        if source is not None:
            await record_event(
                session,
                run,
                "step.reused",
                {
                    "step": step.id,
                    "status": "succeeded",
                    "attempt": source.attempt,
                    "reused_from": str(original.id),
                },
            )
    await record_event(session, original, "run.retried", {"retry": str(run.id)})
    await session.flush()
    return run


def _copied(source: StepRun, run_id: uuid.UUID) -> dict[str, Any]:
    return {
        "status": "succeeded",
        "attempt": source.attempt,
        "input": source.input,
        "output": source.output,
        "logs": source.logs,
        "started_at": source.started_at,
        "finished_at": source.finished_at,
        "reused_from": run_id,
    }
