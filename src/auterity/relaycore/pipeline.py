"""The request path as a pipeline of named stages, each able to act before and after the rest.

    [authenticate at the edge] -> prepare -> route -> cost_ceiling -> call (failover)

A stage is `async (ctx, call_next) -> Answer`, like ASGI middleware: it may refuse (raise),
answer itself (a cache hit), or call the rest and look at the answer. Later stages slot in by
name without touching these: rate limits and budget pre-checks before or after `route`
(`ctx.needs` holds the prompt's token count, `ctx.route` the priced candidates), a cache
before `route`; usage accounting and budget settlement register `ctx.on_finish` callbacks,
which run once the answer is complete — after the last chunk of a stream, or on failure.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from auterity.core.logging import get_logger
from auterity.identity.principal import Principal
from auterity.relaycore.catalog import Catalog, Deployment
from auterity.relaycore.costs import Usage
from auterity.relaycore.routing import Needs, RouteDecision

log = get_logger(__name__)
Kind = Literal["chat", "embedding"]


@dataclass(frozen=True, slots=True)
class Attribution:
    """Who to charge inside the tenant: the `X-Auterity-Workflow/Run/Step` headers."""

    workflow: str | None = None
    run: str | None = None
    step: str | None = None


@dataclass
class Answer:
    """A complete answer (`body`) or a stream of OpenAI chunks (`chunks`)."""

    body: dict[str, Any] | None = None
    chunks: AsyncIterator[dict[str, Any]] | None = None


@dataclass
class RelayContext:
    """Everything known about one request as it goes through the stages."""

    principal: Principal
    kind: Kind
    body: dict[str, Any]  # OpenAI-shaped, whatever the surface
    surface: Literal["openai", "anthropic"] = "openai"
    attribution: Attribution = Attribution()
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    started: float = field(default_factory=time.perf_counter)
    catalog: Catalog | None = None
    needs: Needs | None = None
    route: RouteDecision | None = None
    deployment: Deployment | None = None  # the one that answered
    usage: Usage | None = None
    cost_micros: int = 0
    failovers: int = 0
    attempts: list[dict[str, Any]] = field(default_factory=list)
    ttft_ms: float | None = None
    latency_ms: float | None = None
    cache_hit: bool = False
    error: BaseException | None = None
    # The caller's own limits, beyond what the body says (the platform's `/api/llm`): a cost
    # ceiling in micro-dollars (the `cost_ceiling` stage) and capabilities the model must have.
    max_cost_micros: int | None = None
    capabilities: frozenset[str] = frozenset()
    extra: dict[str, Any] = field(default_factory=dict)  # later stages' own state
    headers: dict[str, str] = field(default_factory=dict)  # stages' own answer headers
    on_finish: list[Callable[[RelayContext], Awaitable[None]]] = field(default_factory=list)

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))

    @property
    def requested_model(self) -> str | None:
        model = self.body.get("model")
        return model if isinstance(model, str) else None

    @property
    def route_reason(self) -> str:
        reason = self.route.reason if self.route else "none"
        if self.cache_hit:
            reason += ";cache"
        return f"{reason};failover={self.failovers}" if self.failovers else reason


Next = Callable[[RelayContext], Awaitable[Answer]]


class Stage(Protocol):
    async def __call__(self, ctx: RelayContext, call_next: Next) -> Answer: ...


async def _end(ctx: RelayContext) -> Answer:
    raise RuntimeError("the last stage of a pipeline must answer, not call on")


class Pipeline:
    """Named stages run in order; `handle` runs them and the finish callbacks."""

    def __init__(self, stages: list[tuple[str, Stage]]) -> None:
        self.stages = list(stages)

    def names(self) -> list[str]:
        return [name for name, _ in self.stages]

    def insert_before(self, existing: str, name: str, stage: Stage) -> None:
        self.stages.insert(self.names().index(existing), (name, stage))

    def insert_after(self, existing: str, name: str, stage: Stage) -> None:
        self.stages.insert(self.names().index(existing) + 1, (name, stage))

    def _chain(self, index: int) -> Next:
        if index >= len(self.stages):
            return _end
        stage = self.stages[index][1]
        rest = self._chain(index + 1)

        async def run(ctx: RelayContext) -> Answer:
            return await stage(ctx, rest)

        return run

    async def handle(self, ctx: RelayContext) -> Answer:
        """The answer; for a stream, the finish callbacks run when its iteration ends."""
        try:
            answer = await self._chain(0)(ctx)
        except BaseException as exc:
            ctx.error = exc
            await finish(ctx)
            raise
        if answer.chunks is None:
            await finish(ctx)
            return answer
        return Answer(chunks=_finishing(ctx, answer.chunks))


async def _finishing(
    ctx: RelayContext, chunks: AsyncIterator[dict[str, Any]]
) -> AsyncIterator[dict[str, Any]]:
    try:
        async for chunk in chunks:
            yield chunk
    except BaseException as exc:
        ctx.error = exc
        raise
    finally:
        with contextlib.suppress(Exception):
            await chunks.aclose()  # type: ignore[attr-defined]
        await finish(ctx)


async def finish(ctx: RelayContext) -> None:
    """Run the finish callbacks once; one failing does not stop the others."""
    if ctx.latency_ms is None:
        ctx.latency_ms = (time.perf_counter() - ctx.started) * 1000
    callbacks, ctx.on_finish = ctx.on_finish, []
    for callback in callbacks:
        try:
            await callback(ctx)
        except Exception:
            log.exception("relay_finish_callback_failed", request_id=ctx.request_id)
