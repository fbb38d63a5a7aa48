"""The action contract: a pydantic input model, an output model and `async run(ctx, params)`."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from auterity.automatrix.keyvalue import WorkflowState
from auterity.automatrix.sandbox import CodeSandbox
from auterity.core.artifacts import ArtifactStore
from auterity.identity.tenant_settings import TenantSettings
from auterity.integrations.browser import BrowserService
from auterity.integrations.errors import IntegrationError
from auterity.integrations.http import OutboundHttp
from auterity.integrations.messaging import Messaging
from auterity.integrations.vectors import VectorService
from auterity.relaycore.client import CallContext, RelayCallError, RelayClient

InputT = TypeVar("InputT", bound=BaseModel)
OutputT = TypeVar("OutputT", bound=BaseModel)
TenantSettingsLookup = Callable[[uuid.UUID], Awaitable[TenantSettings]]
# A tenant's secret by name (None when it is not stored): the engine's secret store.
SecretLookup = Callable[[uuid.UUID, str], Awaitable[str | None]]


class ActionInput(BaseModel):
    """Base of action parameter models: unknown parameters are an error."""

    model_config = ConfigDict(extra="forbid")


class ActionError(Exception):
    """A step failed. `kind` decides whether the retry policy retries it; `retry_after`
    (seconds, kept in `details`) is the least wait before a retry that the callee asked for."""

    def __init__(
        self,
        message: str,
        *,
        kind: str = "action_error",
        details: dict[str, Any] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.details = details or {}
        if retry_after is not None:
            self.details["retry_after"] = retry_after

    @classmethod
    def from_relay(cls, exc: RelayCallError) -> ActionError:
        """RelayCore's refusal or failure, with its status, code and the wait it asked for."""
        details: dict[str, Any] = {"status": exc.status}
        if exc.code:
            details["code"] = exc.code
        return cls(exc.message, kind=exc.kind, details=details, retry_after=exc.retry_after)

    @classmethod
    def from_integration(cls, exc: IntegrationError) -> ActionError:
        """A provider's refusal or failure, keeping its kind (so the retry policy decides),
        its own error code and message, and the wait it asked for."""
        return cls(
            exc.detail, kind=exc.kind, details=dict(exc.details), retry_after=exc.retry_after
        )

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


class DeployedFunctions(Protocol):
    """What `python.step` needs: the function a deployed module's `ref:qualname` names."""

    async def function(self, tenant_id: uuid.UUID, target: str) -> Any: ...


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
    # The warm sandbox pool of `code.python` and the tenant's policy (allowed imports, network).
    sandbox: CodeSandbox | None = None
    tenant_settings: TenantSettingsLookup | None = None
    # Trusted modules deployed with the SDK, imported in this process (`python.step`).
    python_modules: DeployedFunctions | None = None
    # The shared browser (`browser.*`), vector collections (`vector.*`), files such as
    # screenshots, and the values workflows keep between runs (`state.*`).
    browser: BrowserService | None = None
    vectors: VectorService | None = None
    artifacts: ArtifactStore | None = None
    state: WorkflowState | None = None
    # The tenant's secret store, for actions that take a secret's name (`sms.send`): what
    # they read is kept in `revealed`, so the engine redacts it from output, logs and errors.
    secrets: SecretLookup | None = None
    revealed: dict[str, str] = field(default_factory=dict)
    # Twilio, WhatsApp and SMTP, configured from the platform's settings.
    messaging: Messaging | None = None

    async def settings(self) -> TenantSettings:
        if self.tenant_settings is None:
            return TenantSettings()
        return await self.tenant_settings(self.tenant_id)

    async def secret(self, name: str) -> str | None:
        """The current value of the tenant's secret `name`, or None when it is not stored."""
        if name in self.revealed:
            return self.revealed[name]
        value = await self.secrets(self.tenant_id, name) if self.secrets is not None else None
        if value:
            self.revealed[name] = value
        return value

    def integrations(self) -> Messaging:
        if self.messaging is None:
            raise ActionError("messaging integrations are not configured for this engine")
        return self.messaging

    def relay(self) -> RelayClient:
        """RelayCore's client, or a step failure saying how to reach one."""
        if self.llm is None:
            raise ActionError(
                "no RelayCore is reachable from this engine: serve relaycore in the same "
                "process (`auterity up`) or set AUTERITY_RELAY_URL",
                kind="client_error",
            )
        return self.llm

    def relay_call(self) -> CallContext:
        """A RelayCore call on this step's behalf: its tenant pays, attributed to the step."""
        return CallContext(self.tenant_id, self.workflow, str(self.run_id), self.step_id)

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
    # Whether it talks to something outside the platform (template tests must can it).
    reaches_outside: ClassVar[bool] = False
    # Runs where the run is driven whatever the executor: for actions that only wait on the
    # engine (a sub-workflow), where holding a worker slot could starve the child's own steps.
    in_engine: ClassVar[bool] = False

    async def run(self, ctx: ActionContext, params: InputT) -> OutputT | Suspend:
        raise NotImplementedError

    @classmethod
    def describe(cls) -> dict[str, Any]:
        return {
            "name": cls.name,
            "description": cls.description,
            "idempotent": cls.idempotent,
            "idempotency": cls.idempotency,
            "reaches_outside": cls.reaches_outside,
            "input_schema": cls.Input.model_json_schema(),
            "output_schema": cls.Output.model_json_schema(),
        }
