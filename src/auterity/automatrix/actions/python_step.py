"""The `python.step` action: a trusted function deployed with the SDK, called in-process.

No sandbox: the code was deployed by the operator or a tenant the operator trusts (see
`python_modules.py`). Arguments are validated against the function's type hints; a blocking
function runs on a thread so the event loop keeps driving other steps.
"""

from __future__ import annotations

import asyncio
import inspect
import traceback
from typing import Any

from pydantic import Field, RootModel, ValidationError, validate_call
from pydantic_core import to_jsonable_python

from auterity.automatrix.actions.base import Action, ActionContext, ActionError, ActionInput
from auterity.core.errors import NotFound


class PythonStepInput(ActionInput):
    function: str = Field(description="`module@digest:name` of a function deployed with the SDK.")
    args: dict[str, Any] = Field(default_factory=dict, description="Its keyword arguments.")


class PythonStepOutput(RootModel[Any]):
    """The function's return value, as JSON."""


class PythonStep(Action[PythonStepInput, PythonStepOutput]):
    name = "python.step"
    description = (
        "Calls a Python function deployed with `auterity deploy` (trusted code, in-process); "
        "its return value is the step's output."
    )
    Input = PythonStepInput
    Output = PythonStepOutput
    idempotent = False
    idempotency = "the function decides; it runs again when the step is retried"
    reaches_outside = True  # trusted code may do anything; template tests must can it

    async def run(self, ctx: ActionContext, params: PythonStepInput) -> PythonStepOutput:
        if ctx.python_modules is None:
            raise ActionError("deployed Python is not available here", kind="server_error")
        try:
            target = await ctx.python_modules.function(ctx.tenant_id, params.function)
        except NotFound as exc:
            raise ActionError(exc.detail, kind="client_error") from None
        function = getattr(target, "validated", None) or validate_call(target)
        try:
            if inspect.iscoroutinefunction(getattr(target, "fn", target)):
                result = await function(**params.args)
            else:
                result = await asyncio.to_thread(function, **params.args)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                for e in exc.errors(include_input=False)
            )
            raise ActionError(f"invalid arguments: {problems}", kind="client_error") from None
        except Exception as exc:
            frames = [
                f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith("<")
            ]
            trace = "".join(traceback.format_list(frames)) + "".join(
                traceback.format_exception_only(type(exc), exc)
            )
            ctx.log(trace.rstrip())
            raise ActionError(
                f"{type(exc).__name__}: {exc}", details={"traceback": trace}
            ) from None
        try:
            return PythonStepOutput(to_jsonable_python(result))
        except Exception as exc:
            raise ActionError(
                f"the return value ({type(result).__name__}) is not JSON-serialisable: {exc}",
                kind="client_error",
            ) from None
