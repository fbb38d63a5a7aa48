"""An OpenAI chat completions request body, read into what the local model can honour.

What the model cannot do (tools, images, log-probabilities) is refused with a validation
error naming the field, never silently ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from auterity.core.errors import FieldError, ValidationFailed
from auterity.core.problems import from_validation_error

# The SmolLM2 model card's recommended sampling; used when a request leaves them unset.
DEFAULT_TEMPERATURE = 0.2
DEFAULT_TOP_P = 0.9
MAX_CHOICES = 8


class _TextPart(BaseModel):
    type: Literal["text"]
    text: str


class _Message(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[Annotated[_TextPart, Field(discriminator="type")]] | None = None


class _JsonSchema(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    name: str = "response"
    json_schema: dict[str, Any] = Field(default_factory=dict, alias="schema")


class _ResponseFormat(BaseModel):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: _JsonSchema | None = None


class _StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class _ChatRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    messages: list[_Message] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    stop: str | list[str] | None = None
    seed: int | None = None
    n: int | None = Field(default=None, ge=1, le=MAX_CHOICES)
    response_format: _ResponseFormat | None = None
    stream_options: _StreamOptions | None = None
    tools: list[Any] | None = None
    tool_choice: Any = None
    functions: list[Any] | None = None
    logprobs: bool | None = None


@dataclass(frozen=True, slots=True)
class ChatParams:
    """What one local generation needs, read from an OpenAI chat completions body."""

    messages: list[dict[str, str]]
    max_tokens: int | None
    temperature: float
    top_p: float
    presence_penalty: float
    frequency_penalty: float
    stop: tuple[str, ...]
    seed: int | None
    n: int
    json_schema: dict[str, Any] | None
    json_mode: bool
    include_usage: bool


def parse_chat_request(body: dict[str, Any]) -> ChatParams:
    """Read `body`, raising ValidationFailed (with a JSON pointer per problem) when it is wrong."""
    try:
        request = _ChatRequest.model_validate(body)
    except ValidationError as exc:
        raise from_validation_error(RequestValidationError(exc.errors())) from None
    _refuse_unsupported(request)
    stop = [request.stop] if isinstance(request.stop, str) else list(request.stop or [])
    if len(stop) > 4 or any(not item for item in stop):
        raise ValidationFailed(
            "stop takes at most 4 non-empty sequences.",
            errors=[FieldError("/stop", "At most 4 non-empty sequences.")],
        )
    response_format = request.response_format
    json_schema = None
    if response_format is not None and response_format.type == "json_schema":
        if response_format.json_schema is None:
            raise ValidationFailed(
                "response_format of type json_schema needs a json_schema object.",
                errors=[FieldError("/response_format/json_schema", "Field required.")],
            )
        json_schema = response_format.json_schema.json_schema
    return ChatParams(
        messages=[_flatten(message) for message in request.messages],
        max_tokens=request.max_completion_tokens or request.max_tokens,
        temperature=DEFAULT_TEMPERATURE if request.temperature is None else request.temperature,
        top_p=DEFAULT_TOP_P if request.top_p is None else request.top_p,
        presence_penalty=request.presence_penalty or 0.0,
        frequency_penalty=request.frequency_penalty or 0.0,
        stop=tuple(stop),
        seed=request.seed,
        n=request.n or 1,
        json_schema=json_schema,
        json_mode=response_format is not None and response_format.type != "text",
        include_usage=bool(request.stream_options and request.stream_options.include_usage),
    )


def _refuse_unsupported(request: _ChatRequest) -> None:
    problems: list[FieldError] = []
    if (request.tools or request.functions) and request.tool_choice != "none":
        problems.append(FieldError("/tools", "This model does not support tool calls."))
    for index, message in enumerate(request.messages):
        if message.role in ("tool", "function"):
            problems.append(
                FieldError(f"/messages/{index}/role", "This model does not support tool calls.")
            )
    if request.logprobs:
        problems.append(FieldError("/logprobs", "This model does not return log-probabilities."))
    if problems:
        summary = "; ".join(f"{item.pointer}: {item.message}" for item in problems)
        raise ValidationFailed(f"Unsupported by the local model: {summary}", errors=problems)


def _flatten(message: _Message) -> dict[str, str]:
    content = message.content
    if isinstance(content, list):
        content = "".join(part.text for part in content)
    # The chat template knows system, user and assistant; OpenAI's newer `developer` role is
    # the system prompt under another name.
    role = "system" if message.role == "developer" else message.role
    return {"role": role, "content": content or ""}
