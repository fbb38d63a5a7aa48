"""Workflows and runs as the API and CLI use them (no HTTP here)."""

from __future__ import annotations

import uuid
from typing import Any

import jsonschema
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from auterity.automatrix.actions.registry import ActionRegistry
from auterity.automatrix.models import FINISHED_RUN, Run, StepRun, Workflow, WorkflowVersion
from auterity.automatrix.schemas import RunOut, StepOut
from auterity.automatrix.spec import WorkflowSpec
from auterity.automatrix.validation import validate
from auterity.core.errors import (
    Conflict,
    FieldError,
    PreconditionFailed,
    ValidationFailed,
)
from auterity.core.lookup import one_or_404


def checked_spec(document: Any, registry: ActionRegistry) -> WorkflowSpec:
    report = validate(document, registry)
    # `report.spec` is set once the shape parses; meaning errors (unknown actions, cycles,
    # bad references) are reported beside it and must refuse the spec too.
    if report.spec is None or report.errors:
        raise ValidationFailed(
            f"The workflow has {len(report.errors)} problem(s): "
            + "; ".join(f"{e.pointer}: {e.message}" for e in report.errors[:3]),
            errors=report.errors,
        )
    return report.spec


def etag(version: int) -> str:
    return f'"v{version}"'


async def create_workflow(
    session: AsyncSession,
    spec: WorkflowSpec,
    document: Any,
    source: str | None,
    created_by: uuid.UUID | None,
) -> tuple[Workflow, WorkflowVersion]:
    exists = await session.execute(select(Workflow.id).where(Workflow.name == spec.name))
    if exists.first():
        raise Conflict(
            f"A workflow named {spec.name!r} already exists; update it with PUT instead."
        )
    workflow = Workflow(
        name=spec.name, description=spec.description, current_version=1, created_by=created_by
    )
    session.add(workflow)
    await session.flush()
    version = WorkflowVersion(
        workflow_id=workflow.id, version=1, spec=document, source=source, created_by=created_by
    )
    session.add(version)
    await session.flush()
    return workflow, version


async def get_workflow(session: AsyncSession, workflow_id: uuid.UUID) -> Workflow:
    return await one_or_404(
        session,
        select(Workflow).where(Workflow.id == workflow_id),
        f"Workflow {workflow_id} does not exist.",
    )


async def get_version(
    session: AsyncSession, workflow: Workflow, version: int | None = None
) -> WorkflowVersion:
    wanted = workflow.current_version if version is None else version
    return await one_or_404(
        session,
        select(WorkflowVersion).where(
            WorkflowVersion.workflow_id == workflow.id, WorkflowVersion.version == wanted
        ),
        f"Workflow {workflow.id} has no version {wanted}.",
    )


async def update_workflow(
    session: AsyncSession,
    workflow: Workflow,
    if_match: str,
    spec: WorkflowSpec,
    document: Any,
    source: str | None,
    created_by: uuid.UUID | None,
) -> WorkflowVersion:
    if if_match.strip() not in (etag(workflow.current_version), "*"):
        raise PreconditionFailed(
            f"The workflow changed since you read it: it is at version {workflow.current_version}.",
            headers={"ETag": etag(workflow.current_version)},
            extra={"current_version": workflow.current_version},
        )
    if spec.name != workflow.name:
        clash = await session.execute(
            select(Workflow.id).where(Workflow.name == spec.name, Workflow.id != workflow.id)
        )
        if clash.first():
            raise Conflict(f"A workflow named {spec.name!r} already exists.")
    new_version = workflow.current_version + 1
    row = WorkflowVersion(
        workflow_id=workflow.id,
        version=new_version,
        spec=document,
        source=source,
        created_by=created_by,
    )
    session.add(row)
    workflow.current_version, workflow.name, workflow.description = (
        new_version,
        spec.name,
        spec.description,
    )
    try:
        await session.flush()
    except IntegrityError:
        # Another writer saved this version number between our read and write.
        raise PreconditionFailed(
            "The workflow changed concurrently; read it again and retry."
        ) from None
    return row


async def save_by_name(
    session: AsyncSession,
    spec: WorkflowSpec,
    document: Any,
    source: str | None,
    created_by: uuid.UUID | None,
) -> tuple[Workflow, WorkflowVersion, bool]:
    """Create the workflow named in `spec`, or add a version when `document` differs from its
    current one; the flag says whether anything was saved (for `auterity run FILE`)."""
    workflow = (
        await session.execute(select(Workflow).where(Workflow.name == spec.name))
    ).scalar_one_or_none()
    if workflow is None:
        created, version = await create_workflow(session, spec, document, source, created_by)
        return created, version, True
    current = await get_version(session, workflow)
    if current.spec == document:
        return workflow, current, False
    version = await update_workflow(
        session, workflow, etag(workflow.current_version), spec, document, source, created_by
    )
    return workflow, version, True


def prepare_inputs(spec: WorkflowSpec, inputs: dict[str, Any]) -> dict[str, Any]:
    """Apply the input schema's defaults, then validate; every problem names its pointer."""
    values = dict(inputs)
    for name, prop in (spec.inputs.get("properties") or {}).items():
        if name not in values and isinstance(prop, dict) and "default" in prop:
            values[name] = prop["default"]
    validator = jsonschema.Draft202012Validator(spec.inputs)
    problems = sorted(validator.iter_errors(values), key=lambda e: list(e.absolute_path))
    if problems:
        errors = [
            FieldError("/inputs" + "".join(f"/{p}" for p in problem.absolute_path), problem.message)
            for problem in problems
        ]
        raise ValidationFailed(
            "The run inputs do not match the workflow's input schema.", errors=errors
        )
    return values


async def start_run(
    session: AsyncSession,
    workflow: Workflow,
    inputs: dict[str, Any],
    *,
    version: int | None,
    idempotency_key: str | None,
    created_by: uuid.UUID | None,
) -> tuple[Run, bool]:
    """A queued run pinned to one version; the same idempotency key returns the same run.

    Two requests with one key can both miss the look-up; the unique index then decides, and
    the loser (its insert in a savepoint, so the caller's transaction survives) returns the
    winner's run instead of failing.
    """
    if idempotency_key:
        existing = await _run_by_key(session, workflow.id, idempotency_key)
        if existing is not None:
            return existing, False
    pinned = await get_version(session, workflow, version)
    spec = WorkflowSpec.model_validate(pinned.spec)
    values = prepare_inputs(spec, inputs)
    run = Run(
        workflow_id=workflow.id,
        version=pinned.version,
        inputs=values,
        status="queued",
        idempotency_key=idempotency_key,
        created_by=created_by,
    )
    try:
        async with session.begin_nested():
            session.add(run)
    except IntegrityError:
        if not idempotency_key:
            raise
        winner = await _run_by_key(session, workflow.id, idempotency_key)
        if winner is None:
            raise
        return winner, False
    return run, True


async def _run_by_key(session: AsyncSession, workflow_id: uuid.UUID, key: str) -> Run | None:
    rows = await session.execute(
        select(Run).where(Run.workflow_id == workflow_id, Run.idempotency_key == key)
    )
    return rows.scalar_one_or_none()


async def get_run(session: AsyncSession, run_id: uuid.UUID) -> Run:
    return await one_or_404(
        session, select(Run).where(Run.id == run_id), f"Run {run_id} does not exist."
    )


async def request_cancel(session: AsyncSession, run_id: uuid.UUID) -> Run:
    """Flag the run for cancellation; whichever engine drives it stops it (Conflict if ended)."""
    run = await get_run(session, run_id)
    if run.status in FINISHED_RUN:
        raise Conflict(f"The run already ended ({run.status}).")
    await session.execute(update(Run).where(Run.id == run_id).values(cancel_requested=True))
    return run


async def run_view(session: AsyncSession, run_id: uuid.UUID) -> RunOut:
    """The run with its steps, as the API and the CLI show it."""
    run = await get_run(session, run_id)
    out = RunOut.model_validate(run)
    out.steps = [StepOut.from_row(s) for s in await run_steps(session, run_id)]
    return out


async def run_steps(session: AsyncSession, run_id: uuid.UUID) -> list[StepRun]:
    rows = await session.execute(
        select(StepRun)
        .where(StepRun.run_id == run_id, StepRun.item_index == -1)
        .order_by(StepRun.id)
    )
    return list(rows.scalars())
