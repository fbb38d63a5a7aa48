"""How other parts of the platform call RelayCore: one interface, two transports.

`InProcessRelayClient` runs a request through the gateway's own pipeline when one process
serves everything (no HTTP hop, no key: the caller's tenant is trusted because the caller is
the platform). `HttpRelayClient` speaks the OpenAI-compatible API to a RelayCore that runs
apart, with a per-tenant API key. Both return the same `ChatResult` (and `EmbeddingResult`),
so the `llm.chat` action and the vector collections do not know which one they have.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

import httpx

from auterity.identity.permissions import Permission
from auterity.identity.principal import Principal
from auterity.relaycore.api_v1 import check_chat, check_embeddings
from auterity.relaycore.errors import openai_error
from auterity.relaycore.gateway import RelayGateway
from auterity.relaycore.pipeline import Attribution, Kind, RelayContext

MICROS_PER_USD = Decimal(1_000_000)


@dataclass(frozen=True)
class CallContext:
    """Who is asking, and what the cost is booked against."""

    tenant_id: uuid.UUID
    workflow: str | None = None
    run: str | None = None
    step: str | None = None

    def headers(self) -> dict[str, str]:
        pairs = {
            "X-Auterity-Workflow": self.workflow,
            "X-Auterity-Run": self.run,
            "X-Auterity-Step": self.step,
        }
        return {name: value for name, value in pairs.items() if value}


@dataclass(frozen=True)
class ChatResult:
    body: dict[str, Any]  # an OpenAI `chat.completion` object
    model: str
    provider: str
    cost_micros: int
    route: str = ""


@dataclass(frozen=True)
class EmbeddingResult:
    body: dict[str, Any]  # an OpenAI embeddings `list` object
    model: str
    provider: str
    cost_micros: int

    @property
    def vectors(self) -> list[list[float]]:
        """The embeddings in the order of the inputs."""
        data = sorted(self.body.get("data") or [], key=lambda item: int(item.get("index", 0)))
        return [list(item["embedding"]) for item in data]


class RelayCallError(Exception):
    """RelayCore refused or could not answer. `kind` is the engine's retry vocabulary."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.retry_after = retry_after

    @property
    def kind(self) -> str:
        if self.status == 402:
            return "budget_exceeded"
        if self.status == 429:
            return "rate_limited"
        if self.status in (408, 504):
            return "timeout"
        if self.status >= 500 or self.status == 0:
            return "upstream_error"
        return "client_error"


class RelayClient(Protocol):
    async def chat(self, body: dict[str, Any], context: CallContext) -> ChatResult: ...

    async def embed(self, body: dict[str, Any], context: CallContext) -> EmbeddingResult: ...

    async def aclose(self) -> None: ...


def cost_micros(header: str | None) -> int:
    """`x-auterity-cost-usd` ("0.000123") as integer micro-dollars; absent or bad is 0."""
    if not header:
        return 0
    try:
        return int((Decimal(header) * MICROS_PER_USD).to_integral_value())
    except InvalidOperation:
        return 0


class HttpRelayClient:
    """RelayCore over its OpenAI-compatible HTTP API (the services run apart)."""

    def __init__(
        self,
        base_url: str,
        api_key_for: Callable[[uuid.UUID], Awaitable[str]],
        client: httpx.AsyncClient,
    ) -> None:
        base = base_url.rstrip("/")
        self._url = base + "/v1/chat/completions"
        self._embeddings_url = base + "/v1/embeddings"
        self._api_key_for = api_key_for
        self._client = client

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _post(
        self, url: str, body: dict[str, Any], context: CallContext
    ) -> tuple[httpx.Response, dict[str, Any]]:
        key = await self._api_key_for(context.tenant_id)
        headers = {"Authorization": f"Bearer {key}", **context.headers()}
        try:
            response = await self._client.post(url, json=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise RelayCallError(504, f"RelayCore did not answer in time: {exc}") from exc
        except httpx.HTTPError as exc:
            raise RelayCallError(0, f"RelayCore is unreachable: {exc}") from exc
        if response.status_code >= 400:
            raise _error_from(response)
        payload: dict[str, Any] = response.json()
        return response, payload

    async def embed(self, body: dict[str, Any], context: CallContext) -> EmbeddingResult:
        response, payload = await self._post(self._embeddings_url, body, context)
        return EmbeddingResult(
            body=payload,
            model=response.headers.get("x-auterity-model", str(payload.get("model", ""))),
            provider=response.headers.get("x-auterity-provider", ""),
            cost_micros=cost_micros(response.headers.get("x-auterity-cost-usd")),
        )

    async def chat(self, body: dict[str, Any], context: CallContext) -> ChatResult:
        response, payload = await self._post(self._url, body, context)
        return ChatResult(
            body=payload,
            model=response.headers.get("x-auterity-model", str(payload.get("model", ""))),
            provider=response.headers.get("x-auterity-provider", ""),
            cost_micros=cost_micros(response.headers.get("x-auterity-cost-usd")),
            route=response.headers.get("x-auterity-route", ""),
        )


def _error_from(response: httpx.Response) -> RelayCallError:
    message, code = response.text[:500], None
    try:
        error = response.json().get("error") or {}
        message = str(error.get("message") or message)
        code = error.get("code") or error.get("type")
    except (ValueError, AttributeError):
        pass
    retry_after = None
    raw = response.headers.get("retry-after")
    if raw is not None:
        try:
            retry_after = float(raw)
        except ValueError:
            retry_after = None
    return RelayCallError(response.status_code, message, code=code, retry_after=retry_after)


class InProcessRelayClient:
    """RelayCore in this process: the request runs through the gateway's own pipeline.

    The caller is the platform acting for a tenant's workflow, so it gets a principal of that
    tenant that may use the gateway and nothing else; routing, failover and cost accounting
    are exactly those of an HTTP request."""

    def __init__(self, gateway: RelayGateway) -> None:
        self._gateway = gateway

    async def chat(self, body: dict[str, Any], context: CallContext) -> ChatResult:
        ctx, answer = await self._handle("chat", {**body, "stream": False}, context)
        deployment = ctx.deployment
        return ChatResult(
            body=answer,
            model=deployment.model if deployment else str(answer.get("model", "")),
            provider=deployment.provider if deployment else "",
            cost_micros=ctx.cost_micros,
            route=ctx.route_reason,
        )

    async def embed(self, body: dict[str, Any], context: CallContext) -> EmbeddingResult:
        ctx, answer = await self._handle("embedding", dict(body), context)
        deployment = ctx.deployment
        return EmbeddingResult(
            body=answer,
            model=deployment.model if deployment else str(answer.get("model", "")),
            provider=deployment.provider if deployment else "",
            cost_micros=ctx.cost_micros,
        )

    async def _handle(
        self, kind: Kind, request: dict[str, Any], context: CallContext
    ) -> tuple[RelayContext, dict[str, Any]]:
        principal = Principal(
            kind="workflow",
            tenant_id=context.tenant_id,
            permissions=frozenset({Permission.RELAY_USE.value}),
            label=f"workflow {context.workflow}" if context.workflow else "platform",
        )
        ctx = RelayContext(
            principal,
            kind,
            request,
            attribution=Attribution(context.workflow, context.run, context.step),
        )
        try:
            (check_chat if kind == "chat" else check_embeddings)(request)
            answer = await self._gateway.pipeline.handle(ctx)
        except Exception as error:
            status, payload, headers = openai_error(error)
            detail = payload.get("error") or {}
            retry_after = headers.get("retry-after")
            raise RelayCallError(
                status,
                str(detail.get("message") or error),
                code=detail.get("code") or detail.get("type"),
                retry_after=float(retry_after) if retry_after else None,
            ) from error
        assert answer.body is not None
        return ctx, answer.body

    async def aclose(self) -> None:
        """The gateway belongs to the app, which closes it."""
