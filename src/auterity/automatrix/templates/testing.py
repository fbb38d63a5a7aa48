"""Running a template's tests on the real engine, in a scratch database.

Each case fills the template with its parameters, replaces the steps it has canned responses
for by a stand-in action that still renders and checks the step's real parameters (so a bad
expression or a wrong parameter fails the test) and then answers with the canned result, and
runs the workflow with an engine of its own on a throwaway SQLite database: a test run never
appears in the tenant's history, never reaches the outside and never touches real secrets.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ValidationError
from sqlalchemy import select

from auterity.automatrix import service
from auterity.automatrix.actions.base import Action, ActionContext, ActionError, ActionInput
from auterity.automatrix.actions.registry import ActionRegistry
from auterity.automatrix.engine import Engine
from auterity.automatrix.models import FINISHED_RUN, Run, StepRun
from auterity.automatrix.spec import WorkflowSpec
from auterity.automatrix.templates.document import TemplateDocument, TemplateTest
from auterity.automatrix.templates.params import fill, resolve_values
from auterity.automatrix.validation import validate
from auterity.core.artifacts import LocalArtifactStore
from auterity.core.clock import utcnow
from auterity.core.database import Database
from auterity.core.errors import ValidationFailed
from auterity.core.models import Base
from auterity.core.settings import Settings
from auterity.core.tenancy import bind_tenant
from auterity.identity.models import Tenant
from auterity.models_index import import_all_models

CANNED = "test.canned"
POLL_SECONDS = 0.02


class CannedInput(ActionInput):
    uses: str
    params: Any = None
    output: Any = None
    error: dict[str, str] | None = None


class _AnyOutput(BaseModel):
    pass


class CannedAction(Action[CannedInput, _AnyOutput]):
    """Checks the real action's parameters, then answers with the test's canned result."""

    name = CANNED
    Input = CannedInput
    Output = _AnyOutput
    registry: ClassVar[ActionRegistry | None] = None

    async def run(self, ctx: ActionContext, params: CannedInput) -> Any:
        real = self.registry.get(params.uses) if self.registry is not None else None
        if real is not None:
            try:
                real.Input.model_validate(params.params or {})
            except ValidationError as exc:
                raise ActionError(
                    f"invalid parameters for {params.uses}: {exc.errors()[0]['msg']}",
                    kind="client_error",
                ) from None
        if params.error is not None:
            raise ActionError(
                params.error["message"], kind=params.error.get("kind", "action_error")
            )
        return params.output


@dataclass
class CaseResult:
    name: str
    passed: bool
    failures: list[str] = field(default_factory=list)
    status: str | None = None
    steps: dict[str, str] = field(default_factory=dict)
    outputs: Any = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "failures": self.failures,
            "status": self.status,
            "steps": self.steps,
            "outputs": self.outputs,
        }


def _contains(actual: Any, expected: Any) -> bool:
    """`expected` is `actual`, or (for dicts) a part of it, recursively."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        return all(k in actual and _contains(actual[k], v) for k, v in expected.items())
    return bool(actual == expected)


def _test_spec(
    document: TemplateDocument, case: TemplateTest, registry: ActionRegistry
) -> tuple[dict[str, Any], list[str]]:
    """The filled workflow with canned steps swapped in, and the problems found on the way."""
    values = resolve_values(document.parameters, case.parameters)
    filled = fill(document.parameters, document.workflow, values)
    report = validate(filled, registry)
    problems = [f"{e.pointer}: {e.message}" for e in report.errors]
    if problems:
        return filled, problems
    steps = []
    for step in filled.get("steps", []):
        canned = case.responses.get(step.get("id"))
        action = registry.get(step.get("uses", ""))
        if canned is None:
            if action is not None and action.reaches_outside:
                problems.append(
                    f"step {step['id']!r} ({step['uses']}) reaches outside the platform: "
                    "give it a canned response in `responses`"
                )
            steps.append(step)
            continue
        respond: dict[str, Any] = {"uses": step["uses"], "params": step.get("with") or {}}
        if canned.error is not None:
            respond["error"] = canned.error.model_dump()
        else:
            respond["output"] = canned.output
        steps.append({**step, "uses": CANNED, "with": respond})
    unknown = sorted(set(case.responses) - {s.get("id") for s in filled.get("steps", [])})
    problems += [f"`responses` names no step {name!r}" for name in unknown]
    return {**filled, "steps": steps}, problems


@asynccontextmanager
async def scratch_engine(base: Settings, registry: ActionRegistry) -> AsyncIterator[Engine]:
    with tempfile.TemporaryDirectory(prefix="auterity-template-test-") as tmp:
        settings = base.model_copy(
            update={
                "database_url": f"sqlite+aiosqlite:///{Path(tmp) / 'test.db'}",
                "database_schema": None,
                "data_dir": Path(tmp),
            }
        )
        db = Database(settings)
        try:
            import_all_models()
            async with db.engine.begin() as connection:
                await connection.run_sync(Base.metadata.create_all)

            async def fake_secret(tenant_id: object, name: str) -> str:
                return f"test-secret-{name}"

            CannedAction.registry = registry
            engine = Engine(
                db,
                registry.with_overrides({CANNED: CannedAction}),
                secrets=fake_secret,
                poll_interval=0.05,
                artifacts=LocalArtifactStore(Path(tmp) / "artifacts"),
            )
            await engine.start()
            try:
                yield engine
            finally:
                await engine.stop()
        finally:
            await db.dispose()


async def run_tests(
    document: TemplateDocument, registry: ActionRegistry, settings: Settings
) -> list[CaseResult]:
    """Every test case of the document, in order."""
    if not document.tests:
        return []
    results = []
    async with scratch_engine(settings, registry) as engine:
        async with engine.db.session() as session:
            tenant = Tenant(name="template tests", slug="template-tests")
            session.add(tenant)
        for case in document.tests:
            results.append(await _run_case(engine, tenant.id, document, case, registry))
    return results


async def _run_case(
    engine: Engine,
    tenant_id: Any,
    document: TemplateDocument,
    case: TemplateTest,
    registry: ActionRegistry,
) -> CaseResult:
    result = CaseResult(case.name, passed=False)
    try:
        spec_doc, problems = _test_spec(document, case, registry)
    except ValidationFailed as exc:
        result.failures = [f"{e.pointer}: {e.message}" for e in exc.errors] or [exc.detail]
        return result
    if problems:
        result.failures = problems
        return result
    spec = WorkflowSpec.model_validate(spec_doc)
    async with engine.db.session() as session:
        bind_tenant(session, tenant_id)
        name = f"{spec.name} [{case.name}]"[:200]
        workflow, _ = await service.create_workflow(
            session, spec.model_copy(update={"name": name}), spec_doc, None, None
        )
        try:
            run, _ = await service.start_run(
                session, workflow, case.inputs, version=None, idempotency_key=None, created_by=None
            )
        except ValidationFailed as exc:
            result.failures = [f"inputs{e.pointer}: {e.message}" for e in exc.errors]
            return result
    engine.wake(run.id)
    status = await _settle(engine, run.id, tenant_id, case.timeout, case.expect.status)
    async with engine.db.session(readonly=True) as session:
        bind_tenant(session, tenant_id)
        view = await service.run_view(session, run.id)
    result.status = status
    result.steps = {step.id: step.status for step in view.steps or []}
    result.outputs = view.outputs
    outputs = {step.id: step.output for step in view.steps or []}
    failures = result.failures
    if status is None:
        failures.append(f"the run did not settle within {case.timeout:g}s")
    elif status != case.expect.status:
        reason = f" ({view.error.get('message')})" if view.error else ""
        failures.append(f"run status is {status!r}, expected {case.expect.status!r}{reason}")
    for step_id, expected in case.expect.steps.items():
        actual = result.steps.get(step_id)
        if actual != expected:
            failures.append(f"step {step_id!r} is {actual!r}, expected {expected!r}")
    for name, expected in case.expect.outputs.items():
        actual = (view.outputs or {}).get(name)
        if actual != expected:
            failures.append(f"output {name!r} is {actual!r}, expected {expected!r}")
    for step_id, expected in case.expect.step_outputs.items():
        if not _contains(outputs.get(step_id), expected):
            failures.append(f"step {step_id!r} output {outputs.get(step_id)!r} lacks {expected!r}")
    result.passed = not failures
    return result


async def _settle(
    engine: Engine, run_id: Any, tenant_id: Any, timeout: float, expected: str
) -> str | None:
    """The run's status once it finished, or waits for something that will not come within
    the test's time (an approval; a timer beyond the deadline). None: it did neither."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        async with engine.db.session(readonly=True) as session:
            bind_tenant(session, tenant_id)
            run = await session.get(Run, run_id)
            status = run.status if run is not None else None
            if status == "waiting" and expected != "waiting":
                dues = (
                    await session.execute(
                        select(StepRun.due_at).where(
                            StepRun.run_id == run_id, StepRun.status == "waiting"
                        )
                    )
                ).scalars()
                horizon = utcnow() + timedelta(seconds=deadline - loop.time())
                if any(due is not None and due <= horizon for due in dues):
                    status = "running"  # a short timer: it resumes before the deadline
        if status in FINISHED_RUN or status == "waiting":
            return status
        await asyncio.sleep(POLL_SECONDS)
    return None
