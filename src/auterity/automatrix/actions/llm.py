"""The `llm.chat` action: one chat completion through RelayCore, optionally structured.

The request goes through the platform's gateway (routing, budgets, usage accounting), never
straight to a provider, and carries the workflow, run and step so cost is booked to them. With
`response_schema` the answer must be JSON that validates against it; a first answer that does
not is shown its errors and asked once to repair them.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import jsonschema
from jsonschema.exceptions import SchemaError
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from auterity.automatrix.actions.base import Action, ActionContext, ActionError, ActionInput
from auterity.relaycore.client import CallContext, ChatResult, RelayCallError

Role = Literal["system", "user", "assistant", "tool"]
MAX_SCHEMA_ERRORS = 5


class Message(BaseModel):
    role: Role
    content: str | None = None
    name: str | None = None
    tool_call_id: str | None = None
    tool_calls: list[dict[str, Any]] | None = None


class LlmChatInput(ActionInput):
    model: str | None = Field(
        default=None,
        description="A model, alias or `auto` (GET /v1/models); unset: the gateway's default.",
    )
    prompt: str | None = Field(default=None, description="One user message (or use `messages`).")
    system: str | None = Field(default=None, description="A system message put first.")
    messages: list[Message] | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    stop: list[str] | None = None
    seed: int | None = None
    tools: list[dict[str, Any]] | None = None
    response_schema: dict[str, Any] | None = Field(
        default=None, description="JSON Schema the answer must satisfy (structured output)."
    )
    json_mode: bool = Field(default=False, description="Ask for a JSON object without a schema.")

    @field_validator("response_schema")
    @classmethod
    def _valid_schema(cls, schema: dict[str, Any] | None) -> dict[str, Any] | None:
        if schema is not None:
            try:
                jsonschema.Draft202012Validator.check_schema(schema)
            except SchemaError as exc:
                raise ValueError(f"not a valid JSON Schema: {exc.message}") from exc
        return schema

    @model_validator(mode="after")
    def _one_conversation(self) -> LlmChatInput:
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("give exactly one of `prompt` or `messages`")
        return self

    def conversation(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        if self.system is not None:
            messages.append({"role": "system", "content": self.system})
        if self.prompt is not None:
            messages.append({"role": "user", "content": self.prompt})
        for message in self.messages or []:
            messages.append(message.model_dump(exclude_none=True))
        return messages

    def request(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        body: dict[str, Any] = {"messages": messages}
        for name in ("model", "temperature", "max_tokens", "stop", "seed", "tools"):
            value = getattr(self, name)
            if value is not None:
                body[name] = value
        if self.response_schema is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "output", "schema": self.response_schema, "strict": True},
            }
        elif self.json_mode:
            body["response_format"] = {"type": "json_object"}
        return body


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class LlmChatOutput(BaseModel):
    # `json` is the name users write (`steps.x.output.json`); it shadows BaseModel.json.
    model_config = ConfigDict(serialize_by_alias=True, populate_by_name=True)

    content: str | None
    json_: Any = Field(default=None, alias="json")
    tool_calls: list[dict[str, Any]] | None = None
    finish_reason: str | None = None
    model: str
    provider: str
    route: str = ""
    usage: Usage
    cost_usd: float
    repaired: bool = False


class LlmChat(Action[LlmChatInput, LlmChatOutput]):
    name = "llm.chat"
    description = "Ask a model through RelayCore; with `response_schema`, get validated JSON."
    Input = LlmChatInput
    Output = LlmChatOutput
    # Repeating a completion changes nothing outside (it costs tokens, which are accounted).
    idempotent = True
    idempotency = "not needed: a repeated completion has no side effect"

    async def run(self, ctx: ActionContext, params: LlmChatInput) -> LlmChatOutput:
        call = ctx.relay_call()
        messages = params.conversation()
        first = await self._complete(ctx, params.request(messages), call)
        costs = [first]
        answer = _message(first)
        structured = params.response_schema is not None or params.json_mode
        parsed, problems = (None, []) if not structured else _check(answer, params.response_schema)
        repaired = False
        if structured and problems:
            ctx.log(f"answer failed validation, asking once for a repair: {problems[0]}")
            retry = [
                *messages,
                {"role": "assistant", "content": answer.get("content") or ""},
                {"role": "user", "content": _repair_prompt(problems)},
            ]
            second = await self._complete(ctx, params.request(retry), call)
            costs.append(second)
            answer = _message(second)
            parsed, problems = _check(answer, params.response_schema)
            if problems:
                raise ActionError(
                    "the model's answer is not valid for the response schema, even after one "
                    f"repair: {'; '.join(problems)}",
                    kind="invalid_output",
                    details={"content": (answer.get("content") or "")[:2000]},
                )
            repaired = True
        last = costs[-1]
        usage = _total_usage(costs)
        choice = (last.body.get("choices") or [{}])[0]
        return LlmChatOutput.model_validate(
            {
                "content": answer.get("content"),
                "json": parsed,
                "tool_calls": answer.get("tool_calls"),
                "finish_reason": choice.get("finish_reason"),
                "model": last.model,
                "provider": last.provider,
                "route": last.route,
                "usage": usage,
                "cost_usd": sum(result.cost_micros for result in costs) / 1_000_000,
                "repaired": repaired,
            }
        )

    async def _complete(
        self, ctx: ActionContext, body: dict[str, Any], call: CallContext
    ) -> ChatResult:
        try:
            result = await ctx.relay().chat(body, call)
        except RelayCallError as exc:
            raise ActionError.from_relay(exc) from exc
        ctx.add_cost(result.cost_micros)
        return result


def _message(result: ChatResult) -> dict[str, Any]:
    choices = result.body.get("choices") or []
    if not choices:
        raise ActionError("RelayCore answered with no choices", kind="upstream_error")
    message: dict[str, Any] = choices[0].get("message") or {}
    return message


def _check(message: dict[str, Any], schema: dict[str, Any] | None) -> tuple[Any, list[str]]:
    """The parsed JSON answer and what is wrong with it (nothing when it is valid)."""
    text = (message.get("content") or "").strip()
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, [f"the answer is not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"]
    if schema is None:
        return value, []
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    problems = [
        f"{'/' + '/'.join(str(p) for p in error.absolute_path)}: {error.message}"
        for error in errors[:MAX_SCHEMA_ERRORS]
    ]
    return value, problems


def _repair_prompt(problems: list[str]) -> str:
    listed = "\n".join(f"- {problem}" for problem in problems)
    return (
        "Your previous answer does not satisfy the required JSON Schema:\n"
        f"{listed}\n"
        "Reply again with only the corrected JSON value, and nothing else."
    )


def _total_usage(results: list[ChatResult]) -> dict[str, int]:
    total = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    for result in results:
        usage = result.body.get("usage") or {}
        for name in total:
            total[name] += int(usage.get(name) or 0)
    return total
