"""Built-in actions that need nothing outside the engine: transform, delay, log, condition."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError
from pydantic import BaseModel, Field

from auterity.automatrix.actions.base import (
    Action,
    ActionContext,
    ActionError,
    ActionInput,
    Suspend,
)
from auterity.core.clock import utcnow


class TransformInput(ActionInput):
    value: Any = Field(default=None, description="The value (expressions already rendered).")
    jmespath: str | None = Field(default=None, description="Optional JMESPath applied to `value`.")


class ValueOutput(BaseModel):
    value: Any = None


class Transform(Action[TransformInput, ValueOutput]):
    name = "transform"
    description = (
        "Outputs `value` (with expressions rendered), optionally reshaped by a JMESPath query."
    )
    Input = TransformInput
    Output = ValueOutput

    async def run(self, ctx: ActionContext, params: TransformInput) -> ValueOutput:
        if params.jmespath is None:
            return ValueOutput(value=params.value)
        try:
            return ValueOutput(value=jmespath.search(params.jmespath, params.value))
        except JMESPathError as exc:
            raise ActionError(
                f"JMESPath {params.jmespath!r} failed: {exc}", kind="client_error"
            ) from None


class DelayInput(ActionInput):
    seconds: float = Field(ge=0, le=366 * 86400, description="How long to wait.")


class DelayOutput(BaseModel):
    seconds: float


class Delay(Action[DelayInput, DelayOutput]):
    name = "delay"
    description = "Waits durably: the timer lives in the database, no worker is held while it runs."
    Input = DelayInput
    Output = DelayOutput

    async def run(self, ctx: ActionContext, params: DelayInput) -> DelayOutput | Suspend:
        if params.seconds == 0:
            return DelayOutput(seconds=0)
        return Suspend(utcnow() + timedelta(seconds=params.seconds), {"seconds": params.seconds})


class LogInput(ActionInput):
    message: Any
    level: str = Field(default="info", pattern="^(debug|info|warning|error)$")


class LogOutput(BaseModel):
    message: str


class Log(Action[LogInput, LogOutput]):
    name = "log"
    description = "Writes a message to the step log."
    Input = LogInput
    Output = LogOutput

    async def run(self, ctx: ActionContext, params: LogInput) -> LogOutput:
        text = params.message if isinstance(params.message, str) else repr(params.message)
        ctx.log(f"[{params.level}] {text}")
        return LogOutput(message=text)


class ConditionInput(ActionInput):
    value: Any = Field(description="Usually an expression; its truth picks the branch.")


class ConditionOutput(BaseModel):
    result: bool
    branch: str


class Condition(Action[ConditionInput, ConditionOutput]):
    name = "condition"
    description = (
        "Evaluates `value`. Downstream steps branch with `if: steps.<id>.output.result` "
        "(or `branch == 'true'`); untaken branches are marked skipped."
    )
    Input = ConditionInput
    Output = ConditionOutput

    async def run(self, ctx: ActionContext, params: ConditionInput) -> ConditionOutput:
        result = bool(params.value)
        return ConditionOutput(result=result, branch="true" if result else "false")


class SwitchInput(ActionInput):
    value: Any
    cases: list[Any] = Field(min_length=1, description="Values to match in order.")
    default: str = "default"


class SwitchOutput(BaseModel):
    branch: str
    matched: bool


class Switch(Action[SwitchInput, SwitchOutput]):
    name = "switch"
    description = (
        "Matches `value` against `cases`; branch with `if: steps.<id>.output.branch == '...'`."
    )
    Input = SwitchInput
    Output = SwitchOutput

    async def run(self, ctx: ActionContext, params: SwitchInput) -> SwitchOutput:
        for case in params.cases:
            if case == params.value:
                return SwitchOutput(branch=str(case), matched=True)
        return SwitchOutput(branch=params.default, matched=False)


class FailInput(ActionInput):
    message: str = "Failed on purpose."
    kind: str = "action_error"


class Fail(Action[FailInput, ValueOutput]):
    name = "fail"
    description = (
        "Fails the step with `message` (to stop a run on a condition, or to test error paths)."
    )
    Input = FailInput
    Output = ValueOutput

    async def run(self, ctx: ActionContext, params: FailInput) -> ValueOutput:
        raise ActionError(params.message, kind=params.kind)
