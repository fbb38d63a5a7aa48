"""`workflow.call`: run another workflow of the tenant as a step and (by default) wait for it."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from pydantic import BaseModel, Field

from auterity.automatrix.actions.base import Action, ActionContext, ActionError, ActionInput

MAX_DEPTH = 10


class CallInput(ActionInput):
    workflow: str = Field(description="Name or id of the workflow to run.")
    inputs: dict[str, Any] = Field(default_factory=dict)
    version: int | None = None
    wait: bool = Field(default=True, description="Wait for it to finish and return its outputs.")


class CallOutput(BaseModel):
    run_id: uuid.UUID
    status: str
    outputs: Any = None


class CallWorkflow(Action[CallInput, CallOutput]):
    name = "workflow.call"
    description = "Starts a sub-workflow (same tenant); the child is reused if the step runs again."
    Input = CallInput
    Output = CallOutput
    idempotent = True
    idempotency = "the child run is keyed by this step's idempotency key"
    # The called workflow is not in a template test's scratch database.
    reaches_outside = True
    in_engine = True

    async def run(self, ctx: ActionContext, params: CallInput) -> CallOutput:
        if ctx.workflows is None:
            raise ActionError("sub-workflows are not available here", kind="client_error")
        if ctx.depth >= MAX_DEPTH:
            raise ActionError(
                f"sub-workflows nest deeper than {MAX_DEPTH} levels", kind="client_error"
            )
        child = await ctx.workflows.start(ctx, params.workflow, params.inputs, params.version)
        if not params.wait:
            return CallOutput(run_id=child, status="queued")
        try:
            status, outputs, error = await ctx.workflows.wait(child)
        except asyncio.CancelledError:
            await asyncio.shield(
                ctx.workflows.cancel(child)
            )  # cancelling the parent cancels the child
            raise
        if status != "succeeded":
            message = (error or {}).get("message", status)
            raise ActionError(
                f"sub-workflow run {child} {status}: {message}",
                kind="action_error",
                details={"run_id": str(child)},
            )
        return CallOutput(run_id=child, status=status, outputs=outputs)
