"""The money-and-limits stages of the gateway pipeline, around the default ones:

    usage -> prepare -> rate_limit -> cache -> route -> cost_ceiling -> budget -> call

`usage` books every request once, when it finishes (answered, streamed to the end, refused or
failed); `rate_limit` counts it against the tenant's and key's limits; `cache` answers a
repeated identical request from the cache, free; `budget` reserves the request's maximum cost
on the budgets covering it and settles the actual cost when it finishes.

Each stage leans on a component that short-circuits when the tenant configured nothing (no
limits, no budgets), and on cached tenant settings, so the hot path adds no database read.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
from typing import Any

from auterity.core.cache import Cache
from auterity.core.database import Database
from auterity.core.errors import BudgetExceeded
from auterity.identity import tenant_settings
from auterity.relaycore.accounting import RelayAccounting
from auterity.relaycore.cache import Lookup
from auterity.relaycore.cache.response_cache import RequestKind
from auterity.relaycore.costs import Usage, cost_micros
from auterity.relaycore.payer import Payer
from auterity.relaycore.pipeline import Answer, Next, Pipeline, RelayContext
from auterity.relaycore.ratelimits import RelayRateLimited
from auterity.relaycore.routing.router import EXPECTED_OUTPUT_TOKENS
from auterity.relaycore.usage import UsageEntry

# What a chat request without max_tokens is assumed to produce at most, for budget
# reservations: large enough to cover ordinary answers, small enough not to refuse a
# request on a budget that has a few cents left.
DEFAULT_MAX_OUTPUT_TOKENS = 1024


def payer_of(ctx: RelayContext) -> Payer:
    attribution = ctx.attribution
    return Payer(
        ctx.principal.tenant_id,
        ctx.principal.api_key_id,
        attribution.workflow,
        attribution.run,
        attribution.step,
    )


def _choices(ctx: RelayContext) -> int:
    n = ctx.body.get("n", 1)
    return n if isinstance(n, int) and n > 0 else 1


def estimated_tokens(ctx: RelayContext) -> int:
    """Tokens a rate limit charges at admission: the prompt plus the maximum output asked for."""
    needs = ctx.needs
    if needs is None:
        return 0
    return needs.prompt_tokens + (needs.max_output_tokens or 0) * _choices(ctx)


def worst_usage(ctx: RelayContext, prompt_tokens: int) -> Usage:
    """The most a request may use: its prompt, and for a chat its output cap (`max_tokens`,
    else the default) for each choice. `ctx.needs` is set."""
    output = 0
    if ctx.kind == "chat" and ctx.needs is not None:
        output = (ctx.needs.max_output_tokens or DEFAULT_MAX_OUTPUT_TOKENS) * _choices(ctx)
    return Usage(prompt_tokens=prompt_tokens, completion_tokens=output)


def estimated_cost(ctx: RelayContext) -> int:
    """The most this request can cost, in micro-dollars, on the priciest of its candidates."""
    if ctx.needs is None or ctx.route is None or not ctx.route.candidates:
        return 0
    worst = worst_usage(ctx, ctx.needs.prompt_tokens)
    # Failover may land on a later, pricier candidate: reserve for the worst of them.
    return max(cost_micros(deployment.price, worst) for deployment in ctx.route.candidates)


def downgrade(ctx: RelayContext) -> None:
    """A soft budget past its threshold asks for cheaper models: cheapest candidates first.

    Only the route's own candidates are reordered (an alias's or a policy's pool); a request
    naming one model keeps it.
    """
    route = ctx.route
    if route is None or ctx.needs is None:
        return
    expected = Usage(
        prompt_tokens=ctx.needs.prompt_tokens,
        completion_tokens=ctx.needs.max_output_tokens or EXPECTED_OUTPUT_TOKENS,
    )
    cheapest = tuple(
        sorted(route.candidates, key=lambda deployment: cost_micros(deployment.price, expected))
    )
    if cheapest != route.candidates:
        ctx.route = dataclasses.replace(
            route, candidates=cheapest, reason=f"{route.reason};downgrade"
        )


def status_of(ctx: RelayContext) -> str:
    error = ctx.error
    if error is None:
        return "ok"
    if isinstance(error, RelayRateLimited):
        return "rate_limited"
    if isinstance(error, BudgetExceeded):
        return "budget_exceeded"
    if isinstance(error, asyncio.CancelledError | GeneratorExit):
        return "cancelled"  # the client went away (a stream closed early)
    return "error"


def usage_entry(ctx: RelayContext) -> UsageEntry:
    usage = ctx.usage or Usage()
    deployment = ctx.deployment
    hit = ctx.extra.get("cache_hit_model")
    requested = ctx.requested_model or (ctx.route.requested if ctx.route else "")
    return UsageEntry(
        tenant_id=ctx.principal.tenant_id,
        requested_model=requested,
        status=status_of(ctx),
        api_key_id=ctx.principal.api_key_id,
        workflow=ctx.attribution.workflow,
        run=ctx.attribution.run,
        step=ctx.attribution.step,
        routed_model=deployment.model if deployment else (hit[0] if hit else None),
        provider=deployment.provider if deployment else (hit[1] if hit else None),
        input_tokens=usage.prompt_tokens,
        output_tokens=usage.completion_tokens,
        cached_tokens=usage.cached_tokens,
        cost_micros=ctx.cost_micros,
        latency_ms=round(ctx.latency_ms or 0),
        ttft_ms=round(ctx.ttft_ms) if ctx.ttft_ms is not None else None,
        route_reason=ctx.route_reason[:200],
        cache_hit=ctx.cache_hit,
        failover_count=ctx.failovers,
    )


class AccountingStages:
    """The stages, bound to the process's accounting components and settings cache."""

    def __init__(self, accounting: RelayAccounting, db: Database, cache: Cache) -> None:
        self.accounting = accounting
        self.db = db
        self.cache = cache

    def install(self, pipeline: Pipeline) -> None:
        pipeline.insert_before("prepare", "usage", self.usage)
        pipeline.insert_after("prepare", "rate_limit", self.rate_limit)
        pipeline.insert_after("rate_limit", "cache", self.response_cache)
        # After routing and the request's own cost ceiling: reserve for the final candidates.
        pipeline.insert_before("call", "budget", self.budget)

    async def usage(self, ctx: RelayContext, call_next: Next) -> Answer:
        async def record(done: RelayContext) -> None:
            self.accounting.complete(usage_entry(done), request_id=done.request_id)

        ctx.on_finish.append(record)
        return await call_next(ctx)

    async def rate_limit(self, ctx: RelayContext, call_next: Next) -> Answer:
        admission = await self.accounting.rate_limits.admit(payer_of(ctx), estimated_tokens(ctx))
        ctx.headers.update(admission.headers())
        return await call_next(ctx)

    async def response_cache(self, ctx: RelayContext, call_next: Next) -> Answer:
        # Streams are not replayed from the cache: only complete answers are stored.
        if ctx.stream:
            return await call_next(ctx)
        policy = (await tenant_settings.load(self.db, self.cache, ctx.principal.tenant_id)).relay
        if not policy.exact_cache and not policy.semantic_cache:
            return await call_next(ctx)
        kind: RequestKind = "chat" if ctx.kind == "chat" else "embeddings"
        lookup = await self.accounting.cache.lookup(
            ctx.principal.tenant_id, ctx.body, kind=kind, semantic=policy.semantic_cache
        )
        hit = lookup.hit
        if hit is not None:
            ctx.cache_hit = True
            ctx.cost_micros = 0
            ctx.usage = Usage.from_openai(hit.response.get("usage")) or Usage()
            ctx.extra["cache_hit_model"] = (hit.routed_model, hit.provider)
            ctx.headers.update(hit.headers())
            if hit.routed_model:
                ctx.headers["x-auterity-model"] = hit.routed_model
            if hit.provider:
                ctx.headers["x-auterity-provider"] = hit.provider
            return Answer(body=_copy(hit.response))
        answer = await call_next(ctx)
        if answer.body is not None and ctx.deployment is not None:
            await self._store(lookup, answer.body, ctx)
        return answer

    async def _store(self, lookup: Lookup, body: dict[str, Any], ctx: RelayContext) -> None:
        assert ctx.deployment is not None
        await self.accounting.cache.store(
            lookup, _copy(body), routed_model=ctx.deployment.model, provider=ctx.deployment.provider
        )

    async def budget(self, ctx: RelayContext, call_next: Next) -> Answer:
        ledger = self.accounting.ledger
        reservation = await ledger.reserve(payer_of(ctx), estimated_cost(ctx))
        if reservation.downgrade_advised:
            downgrade(ctx)
        if reservation.lines:

            async def settle(done: RelayContext) -> None:
                if done.usage is None:
                    await ledger.release(reservation)  # failed before any token was spent
                else:
                    await ledger.settle(reservation, done.cost_micros)

            ctx.on_finish.append(settle)
        return await call_next(ctx)


def _copy(body: dict[str, Any]) -> dict[str, Any]:
    # The surface rewrites answers in place (base64 embeddings): keep the cached one intact.
    return copy.deepcopy(body)
