"""The action contract: a pydantic input model, an output model and `async run(ctx, params)`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from auterity.integrations.http import OutboundHttp
from auterity.relaycore.client import RelayClient

InputT = TypeVar("InputT", bound=BaseModel)
OutputT = TypeVar("OutputT", bound=BaseModel)


class ActionInput(BaseModel):
    """Base of action parameter models: unknown parameters are an error."""

    model_config = ConfigDict(extra="forbid")


class ActionError(Exception):
    """A step failed. `kind` decides whether the retry policy retries it."""

    def __init__(
        self, message: str, *, kind: str = "action_error", details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.details = details or {}

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "message": self.message,
            **({"details": self.details} if self.details else {}),
        }


@dataclass(frozen=True)
class Suspend:
    """Returned by an action to wait durably until `resume_at` (a timer kept in the database)."""

    resume_at: datetime
    output: dict[str, Any] = field(default_factory=dict)
    # When set, reaching `resume_at` fails the step with this error instead of succeeding
    # (an approval nobody gave in time). An outside decision can end the wait earlier.
    timeout_error: dict[str, Any] | None = None


class WorkflowCalls(Protocol):
    """What `workflow.call` needs from the engine (filled in by the engine, not imported)."""

    async def start(
        self, ctx: ActionContext, workflow: str, inputs: dict[str, Any], version: int | None
    ) -> uuid.UUID: ...

    async def wait(self, run_id: uuid.UUID) -> tuple[str, Any, dict[str, Any] | None]: ...

    async def cancel(self, run_id: uuid.UUID) -> None: ...


@dataclass
class ActionContext:
    """What a running step knows about itself; passed to every action."""

    tenant_id: uuid.UUID
    run_id: uuid.UUID
    step_id: str
    attempt: int
    idempotency_key: str
    item: Any = None
    logs: list[str] = field(default_factory=list)
    workflows: WorkflowCalls | None = None
    depth: int = 0
    # The platform's SSRF-guarded HTTP client factory: every action that calls out uses it.
    http: OutboundHttp | None = None
    # RelayCore, in-process or over HTTP: every model call goes through the gateway.
    llm: RelayClient | None = None
    workflow: str | None = None
    # What this attempt spent through RelayCore, in micro-dollars (stored on the step run).
    cost_micros: int = 0

    def log(self, message: str) -> None:
        self.logs.append(message)

    def add_cost(self, micros: int) -> None:
        self.cost_micros += micros


class Action(Generic[InputT, OutputT]):
    """Subclass with `name`, `Input`, `Output` and `run`; register under `auterity.actions`."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    Input: ClassVar[type[BaseModel]]
    Output: ClassVar[type[BaseModel]]
    # Whether running it twice is harmless; if not, whether it passes the idempotency key on.
    idempotent: ClassVar[bool] = True
    idempotency: ClassVar[str] = "not needed"

    async def run(self, ctx: ActionContext, params: InputT) -> OutputT | Suspend:
        raise NotImplementedError

    @classmethod
    def describe(cls) -> dict[str, Any]:
        return {
            "name": cls.name,
            "description": cls.description,
            "idempotent": cls.idempotent,
            "idempotency": cls.idempotency,
            "input_schema": cls.Input.model_json_schema(),
            "output_schema": cls.Output.model_json_schema(),
        }
