"""AutoMatrix HTTP routes: workflows, versions, validation, runs, live events, actions."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse
from pydantic import Field
from sqlalchemy import select

from auterity.automatrix import approvals, modules_api, retry, service
from auterity.automatrix.actions.registry import ActionRegistry
from auterity.automatrix.documents import request_document
from auterity.automatrix.engine import Engine
from auterity.automatrix.events import event_payload, follow_events
from auterity.automatrix.models import FINISHED_RUN, Run, Workflow, WorkflowVersion
from auterity.automatrix.schemas import (
    RunCreate,
    RunOut,
    RunPage,
    RunRetry,
    StepOut,
    ValidationOut,
    VersionOut,
    WorkflowOut,
    WorkflowPage,
)
from auterity.automatrix.spec import spec_json_schema
from auterity.automatrix.validation import validate
from auterity.core.artifacts import is_reference
from auterity.core.errors import AuterityError, BadRequest, Conflict, NotFound, PreconditionRequired
from auterity.core.pagination import keyset_page
from auterity.core.problems import problem_response
from auterity.core.schemas import StrictModel
from auterity.core.tenancy import bind_tenant
from auterity.identity.deps import TenantSession, require, resolve_principal
from auterity.identity.permissions import Permission
from auterity.identity.principal import Principal

workflows = APIRouter(prefix="/api/workflows", tags=["workflows"])
runs = APIRouter(prefix="/api/runs", tags=["runs"])
catalog = APIRouter(prefix="/api", tags=["workflows"])

Reader = Annotated[Principal, require(Permission.WORKFLOW_READ)]
Writer = Annotated[Principal, require(Permission.WORKFLOW_WRITE)]
Runner = Annotated[Principal, require(Permission.WORKFLOW_RUN)]
SPEC_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "/api/schemas/workflow.json"}},
            "application/yaml": {"schema": {"type": "string"}},
        },
    }
}


def registry_of(request: Request) -> ActionRegistry:
    registry: ActionRegistry = request.app.state.actions
    return registry


def engine_of(request: Request) -> Engine:
    """The engine of this process (404 where the process does not run workflows)."""
    engine: Engine | None = getattr(request.app.state, "engine", None)
    if engine is None:
        raise NotFound("This process does not run workflows; use the AutoMatrix service.")
    return engine


@workflows.post("/validate", response_model=ValidationOut, openapi_extra=SPEC_BODY)
async def validate_workflow(request: Request, principal: Reader) -> ValidationOut:
    """Check a spec; answers every problem at once, each with a JSON pointer and a hint."""
    document, _ = await request_document(request)
    return ValidationOut(**validate(document, registry_of(request)).as_dict())


@workflows.post("", status_code=201, response_model=WorkflowOut, openapi_extra=SPEC_BODY)
async def create_workflow(
    request: Request, response: Response, principal: Writer, session: TenantSession
) -> WorkflowOut:
    """Save a new workflow (its version 1) from a JSON or YAML spec."""
    document, source = await request_document(request)
    spec = service.checked_spec(document, registry_of(request))
    workflow, version = await service.create_workflow(
        session, spec, document, source, principal.user_id
    )
    response.headers["ETag"] = service.etag(1)
    response.headers["Location"] = f"/api/workflows/{workflow.id}"
    return WorkflowOut.from_row(workflow, version.spec)


@workflows.get("", response_model=WorkflowPage)
async def list_workflows(
    principal: Reader,
    session: TenantSession,
    cursor: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> WorkflowPage:
    rows, next_cursor = await keyset_page(session, select(Workflow), Workflow.id, cursor, limit)
    return WorkflowPage(items=[WorkflowOut.from_row(w) for w in rows], next_cursor=next_cursor)


@workflows.get("/{workflow_id}", response_model=WorkflowOut)
async def get_workflow(
    workflow_id: uuid.UUID, response: Response, principal: Reader, session: TenantSession
) -> WorkflowOut:
    workflow = await service.get_workflow(session, workflow_id)
    version = await service.get_version(session, workflow)
    response.headers["ETag"] = service.etag(workflow.current_version)
    return WorkflowOut.from_row(workflow, version.spec)


@workflows.put("/{workflow_id}", response_model=WorkflowOut, openapi_extra=SPEC_BODY)
async def update_workflow(
    workflow_id: uuid.UUID,
    request: Request,
    response: Response,
    principal: Writer,
    session: TenantSession,
    if_match: Annotated[str | None, Header()] = None,
) -> WorkflowOut:
    """Save a new version. Send `If-Match` with the ETag you read: a concurrent edit gets 412."""
    workflow = await service.get_workflow(session, workflow_id)
    if if_match is None:
        raise PreconditionRequired(
            "Send If-Match with the ETag of the version you edited "
            f"(now {service.etag(workflow.current_version)})."
        )
    document, source = await request_document(request)
    spec = service.checked_spec(document, registry_of(request))
    version = await service.update_workflow(
        session, workflow, if_match, spec, document, source, principal.user_id
    )
    response.headers["ETag"] = service.etag(version.version)
    return WorkflowOut.from_row(workflow, version.spec)


@workflows.delete("/{workflow_id}", status_code=204)
async def delete_workflow(
    workflow_id: uuid.UUID, principal: Writer, session: TenantSession
) -> Response:
    workflow = await service.get_workflow(session, workflow_id)
    active = await session.execute(
        select(Run.id)
        .where(Run.workflow_id == workflow.id, Run.status.not_in(FINISHED_RUN))
        .limit(1)
    )
    if active.first():
        raise Conflict("The workflow has runs in progress; cancel them first.")
    await session.delete(workflow)
    return Response(status_code=204)


@workflows.get("/{workflow_id}/versions", response_model=list[VersionOut])
async def list_versions(
    workflow_id: uuid.UUID, principal: Reader, session: TenantSession
) -> list[VersionOut]:
    workflow = await service.get_workflow(session, workflow_id)
    rows = await session.execute(
        select(WorkflowVersion)
        .where(WorkflowVersion.workflow_id == workflow.id)
        .order_by(WorkflowVersion.version)
    )
    return [VersionOut.model_validate(r) for r in rows.scalars()]


@workflows.post("/{workflow_id}/runs", status_code=201, response_model=RunOut)
async def create_run(
    workflow_id: uuid.UUID,
    body: RunCreate,
    request: Request,
    response: Response,
    principal: Runner,
    session: TenantSession,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> RunOut:
    """Start a run (queued, then driven by the engine); one `Idempotency-Key` gives one run."""
    engine = engine_of(request)
    workflow = await service.get_workflow(session, workflow_id)
    run, created = await service.start_run(
        session,
        workflow,
        body.inputs,
        version=body.version,
        idempotency_key=idempotency_key,
        created_by=principal.user_id,
    )
    await session.commit()
    engine.wake(run.id)
    if not created:
        response.status_code = 200
    response.headers["Location"] = f"/api/runs/{run.id}"
    return RunOut.model_validate(run)


@runs.get("", response_model=RunPage)
async def list_runs(
    principal: Reader,
    session: TenantSession,
    workflow_id: uuid.UUID | None = None,
    status: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> RunPage:
    query = select(Run)
    if workflow_id:
        query = query.where(Run.workflow_id == workflow_id)
    if status:
        query = query.where(Run.status == status)
    if since:
        query = query.where(Run.created_at >= since)
    if until:
        query = query.where(Run.created_at < until)
    rows, next_cursor = await keyset_page(session, query, Run.id, cursor, limit)
    return RunPage(items=[RunOut.model_validate(r) for r in rows], next_cursor=next_cursor)


@runs.get("/{run_id}", response_model=RunOut)
async def get_run(run_id: uuid.UUID, principal: Reader, session: TenantSession) -> RunOut:
    return await service.run_view(session, run_id)


@runs.post("/{run_id}/retry", status_code=201, response_model=RunOut)
async def retry_run(
    run_id: uuid.UUID,
    body: RunRetry,
    request: Request,
    response: Response,
    principal: Runner,
    session: TenantSession,
) -> RunOut:
    """Retry a finished run as a new run on the same version, optionally with edited inputs
    or step parameters; steps that succeeded upstream of the restart are reused, not re-run."""
    engine = engine_of(request)
    original = await service.get_run(session, run_id)
    run = await retry.retry_run(
        session,
        registry_of(request),
        original,
        from_step=body.from_step,
        inputs=body.inputs,
        with_=body.with_,
        created_by=principal.user_id,
    )
    await session.commit()
    engine.wake(run.id)
    response.headers["Location"] = f"/api/runs/{run.id}"
    return await service.run_view(session, run.id)


@runs.post("/{run_id}/cancel", response_model=RunOut)
async def cancel_run(
    run_id: uuid.UUID, request: Request, principal: Runner, session: TenantSession
) -> RunOut:
    """Ask the engine to cancel; running steps are cancelled, the run ends `cancelled`."""
    run = await service.request_cancel(session, run_id)
    await session.commit()
    engine_of(request).wake(run_id)
    return RunOut.model_validate(run)


@runs.get("/{run_id}/steps/{step_id}/output")
async def step_output(
    run_id: uuid.UUID, step_id: str, request: Request, principal: Reader, session: TenantSession
) -> Any:
    """A step's whole output, also when it was too large to keep inline (see `$artifact`)."""
    await service.get_run(session, run_id)
    step = next((s for s in await service.run_steps(session, run_id) if s.step_id == step_id), None)
    if step is None:
        raise NotFound(f"Run {run_id} has no step {step_id!r}.")
    if is_reference(step.output):
        return await engine_of(request).artifacts.get_json(step.output)
    return step.output


class Decision(StrictModel):
    comment: str | None = Field(default=None, max_length=2000)


async def _decide(
    request: Request,
    run_id: uuid.UUID,
    step_id: str,
    principal: Principal,
    session: TenantSession,
    approve: bool,
    body: Decision,
) -> StepOut:
    step = await approvals.decide(
        session, run_id, step_id, principal, approve=approve, comment=body.comment
    )
    await session.commit()
    engine_of(request).wake(run_id)
    return StepOut.from_row(step)


@runs.post("/{run_id}/steps/{step_id}/approve", response_model=StepOut)
async def approve_step(
    run_id: uuid.UUID,
    step_id: str,
    body: Decision,
    request: Request,
    principal: Runner,
    session: TenantSession,
) -> StepOut:
    """Approve a waiting `approval` step; the run continues."""
    return await _decide(request, run_id, step_id, principal, session, True, body)


@runs.post("/{run_id}/steps/{step_id}/reject", response_model=StepOut)
async def reject_step(
    run_id: uuid.UUID,
    step_id: str,
    body: Decision,
    request: Request,
    principal: Runner,
    session: TenantSession,
) -> StepOut:
    """Reject a waiting `approval` step; it fails (the run too, unless on_error says otherwise)."""
    return await _decide(request, run_id, step_id, principal, session, False, body)


@runs.get("/{run_id}/events", response_class=StreamingResponse)
async def run_events(
    run_id: uuid.UUID,
    request: Request,
    principal: Reader,
    session: TenantSession,
    after: Annotated[int | None, Query(ge=0)] = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """Server-Sent Events; reconnect with `Last-Event-ID` (or `?after=seq`) for what you missed."""
    await service.get_run(session, run_id)  # 404 across tenants, before streaming starts
    await session.close()
    try:
        start = int(last_event_id) if last_event_id is not None else (after or 0)
    except ValueError:
        raise BadRequest("Last-Event-ID must be an event sequence number.") from None
    engine = engine_of(request)
    db = request.app.state.runtime.db

    async def stream() -> AsyncIterator[bytes]:
        async for event in follow_events(db, engine.hub, run_id, start):
            if event is None:
                if await request.is_disconnected():
                    return
                yield b": keep-alive\n\n"
                continue
            payload = json.dumps(event_payload(event))
            yield f"id: {event.seq}\nevent: {event.type}\ndata: {payload}\n\n".encode()

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@runs.websocket("/{run_id}/ws")
async def run_websocket(websocket: WebSocket, run_id: uuid.UUID, after: int = 0) -> None:
    """The same events over a WebSocket. Authenticate with `Authorization: Bearer` or, from a
    browser (which cannot set headers), `?access_token=`; resume with `?after=seq`."""
    identity = websocket.app.state.identity
    header = websocket.headers.get("authorization", "")
    token = websocket.query_params.get("access_token")
    if header.lower().startswith("bearer "):
        token = header[7:]
    try:
        principal = await resolve_principal(websocket, token, identity)
        principal.require(Permission.WORKFLOW_READ)
        async with websocket.app.state.runtime.db.session(readonly=True) as session:
            bind_tenant(session, principal.tenant_id)
            await service.get_run(session, run_id)
    except AuterityError as exc:
        # Refuse the handshake with the same problem response an HTTP request would get.
        await websocket.send_denial_response(problem_response(exc, websocket.url.path))
        return
    await websocket.accept()
    engine = engine_of(websocket)  # type: ignore[arg-type]
    try:
        async for event in follow_events(websocket.app.state.runtime.db, engine.hub, run_id, after):
            if event is None:
                continue
            await websocket.send_json(event_payload(event))
        await websocket.close(code=1000)
    except WebSocketDisconnect:
        return


@catalog.get("/actions")
async def list_actions(request: Request, principal: Reader) -> list[dict[str, Any]]:
    """Installed actions with their parameter and output JSON Schemas."""
    registry = registry_of(request)
    return [registry.get(name).describe() for name in registry.names()]  # type: ignore[union-attr]


@catalog.get("/schemas/workflow.json")
async def workflow_schema() -> dict[str, Any]:
    """The JSON Schema of workflow specs (for editors and validation in CI)."""
    return spec_json_schema()


routers = (workflows, runs, catalog, modules_api.router)
