"""The engine's side of `workflow.call`: start child runs in the parent's tenant and await them."""

from __future__ import annotations

import contextlib
import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select, update

from auterity.automatrix.actions.base import ActionContext, ActionError
from auterity.automatrix.models import Run, Workflow
from auterity.automatrix.service import start_run
from auterity.core.errors import AuterityError
from auterity.core.tenancy import bind_tenant

if TYPE_CHECKING:
    from auterity.automatrix.engine import Engine


class EngineWorkflowCalls:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def start(
        self, ctx: ActionContext, workflow: str, inputs: dict[str, Any], version: int | None
    ) -> uuid.UUID:
        async with self.engine.db.session() as session:
            bind_tenant(session, ctx.tenant_id)
            conditions = [Workflow.name == workflow]
            with contextlib.suppress(ValueError):  # a name, not an id
                conditions.append(Workflow.id == uuid.UUID(workflow))
            found = (
                await session.execute(select(Workflow).where(or_(*conditions)))
            ).scalar_one_or_none()
            if found is None:
                raise ActionError(f"no workflow {workflow!r} in this tenant", kind="client_error")
            try:
                run, _ = await start_run(
                    session,
                    found,
                    inputs,
                    version=version,
                    idempotency_key=f"call:{ctx.idempotency_key}",
                    created_by=None,
                )
            except AuterityError as exc:
                raise ActionError(
                    f"cannot start {workflow!r}: {exc.detail}",
                    kind="client_error",
                    details={"errors": [e.as_dict() for e in exc.errors]},
                ) from None
            run.parent_run_id, run.depth = ctx.run_id, ctx.depth + 1
            run_id = run.id
        self.engine.wake(run_id)
        return run_id

    async def wait(self, run_id: uuid.UUID) -> tuple[str, Any, dict[str, Any] | None]:
        status = await self.engine.wait_for(run_id, timeout=float("inf"))
        async with self.engine.db.session(readonly=True) as session:
            outputs, error = (
                await session.execute(select(Run.outputs, Run.error).where(Run.id == run_id))
            ).one()
        return status, outputs, error

    async def cancel(self, run_id: uuid.UUID) -> None:
        async with self.engine.db.session() as session:
            await session.execute(update(Run).where(Run.id == run_id).values(cancel_requested=True))
        self.engine.wake(run_id)
