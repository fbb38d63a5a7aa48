"""`state.get` and `state.set`: small values a workflow keeps from one run to the next."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from auterity.automatrix.actions.base import Action, ActionContext, ActionError, ActionInput
from auterity.automatrix.keyvalue import TENANT_NAMESPACE, ValueTooLarge, WorkflowState

Scope = Literal["workflow", "tenant"]
SCOPE_DESCRIPTION = "`workflow`: this workflow's own keys; `tenant`: shared by all of them."


class StateGetInput(ActionInput):
    key: str = Field(min_length=1, max_length=200)
    default: Any = Field(default=None, description="The value when the key was never set.")
    scope: Scope = Field(default="workflow", description=SCOPE_DESCRIPTION)


class StateGetOutput(BaseModel):
    found: bool
    value: Any = None


class StateGet(Action[StateGetInput, StateGetOutput]):
    name = "state.get"
    description = "Reads a value kept by `state.set` (in an earlier run, or earlier in this one)."
    Input = StateGetInput
    Output = StateGetOutput

    async def run(self, ctx: ActionContext, params: StateGetInput) -> StateGetOutput:
        found, value = await _state(ctx).get(
            ctx.tenant_id, _namespace(ctx, params.scope), params.key
        )
        return StateGetOutput(found=found, value=value if found else params.default)


class StateSetInput(ActionInput):
    key: str = Field(min_length=1, max_length=200)
    value: Any
    scope: Scope = Field(default="workflow", description=SCOPE_DESCRIPTION)


class StateSetOutput(BaseModel):
    previous_found: bool
    previous: Any = None


class StateSet(Action[StateSetInput, StateSetOutput]):
    name = "state.set"
    description = "Keeps a JSON value under a key for later runs (256 KiB at most)."
    Input = StateSetInput
    Output = StateSetOutput
    idempotency = "not needed: setting the same value again leaves the same state"

    async def run(self, ctx: ActionContext, params: StateSetInput) -> StateSetOutput:
        try:
            found, previous = await _state(ctx).set(
                ctx.tenant_id, _namespace(ctx, params.scope), params.key, params.value
            )
        except ValueTooLarge as exc:
            raise ActionError(str(exc), kind="client_error") from None
        return StateSetOutput(previous_found=found, previous=previous)


def _state(ctx: ActionContext) -> WorkflowState:
    if ctx.state is None:
        raise ActionError("workflow state is not configured for this engine")
    return ctx.state


def _namespace(ctx: ActionContext, scope: Scope) -> str:
    return TENANT_NAMESPACE if scope == "tenant" else (ctx.workflow or "")
