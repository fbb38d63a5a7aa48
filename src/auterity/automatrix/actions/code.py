"""The `code.python` action: the user's Python, run in the sandbox's warm pool.

The step's output is the code's return value (JSON); what it prints goes to the step log; an
exception fails the step with the user's traceback, its line numbers those of `code`.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, RootModel

from auterity.automatrix.actions.base import Action, ActionContext, ActionError, ActionInput
from auterity.automatrix.sandbox import SandboxFault, SandboxUnavailable

MAX_CODE_CHARS = 256 * 1024


class CodeInput(ActionInput):
    code: str = Field(
        min_length=1,
        max_length=MAX_CODE_CHARS,
        description="A function body (inputs are its variables, and `inputs` the dict of "
        "them), or a module defining `main(**inputs)`. Return a JSON-serialisable value.",
    )
    inputs: dict[str, Any] = Field(
        default_factory=dict,
        description="Values passed to the code; usually expressions such as "
        "`{{ steps.fetch.output.body }}` or `{{ secrets.API_TOKEN }}` (only the secrets named "
        "here reach the code).",
    )


class CodeOutput(RootModel[Any]):
    """The code's return value."""


class PythonCode(Action[CodeInput, CodeOutput]):
    name = "code.python"
    description = (
        "Runs Python in a sandbox (a warm pool of processes in Linux namespaces, with CPU, "
        "memory, time and output limits); its return value is the step's output."
    )
    Input = CodeInput
    Output = CodeOutput
    idempotent = False
    idempotency = "the code decides; it runs again when the step is retried"

    async def run(self, ctx: ActionContext, params: CodeInput) -> CodeOutput:
        if ctx.sandbox is None:
            raise ActionError("code steps are not available in this process", kind="server_error")
        policy = (await ctx.settings()).code
        try:
            result = await ctx.sandbox.run(
                params.code,
                params.inputs,
                allowed_imports=list(policy.allowed_imports),
                network=policy.network,
            )
        except (SandboxFault, SandboxUnavailable) as exc:
            raise ActionError(str(exc), kind="server_error") from None
        for line in result.logs.splitlines():
            ctx.log(line)
        if result.ok:
            return CodeOutput(result.value)
        error = dict(result.error or {})
        if error.get("traceback"):
            ctx.log(error["traceback"])
        message = str(error.pop("message", "the code failed"))
        kind = str(error.pop("kind", "action_error"))
        details = {**error, "cpu_seconds": round(result.cpu_seconds, 4)}
        raise ActionError(message, kind=kind, details=details)
