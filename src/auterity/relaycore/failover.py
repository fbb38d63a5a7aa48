"""Calling the candidates in order: breakers, failover, Retry-After, usage and cost.

A candidate is skipped while its breaker is open or its provider asked us to wait; a call
that fails with a connection error, a timeout, 429 or 5xx moves on to the next one, a 4xx
the client caused does not. A stream moves on only before its first chunk: after that the
client has bytes and the failure is theirs to see. When every candidate failed and one of
them asked to be retried after a short while, we wait that long and try it once more.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from auterity.relaycore.breaker import Breakers
from auterity.relaycore.catalog import Deployment
from auterity.relaycore.costs import Usage, cost_micros
from auterity.relaycore.pipeline import Answer, Next, RelayContext
from auterity.relaycore.providers.base import (
    Call,
    Provider,
    ProviderError,
    ProviderNotConfigured,
    UpstreamServerError,
)
from auterity.relaycore.routing import LatencyTracker
from auterity.relaycore.tokens import count_text

CallFactory = Callable[[RelayContext, Deployment], Awaitable[tuple[Provider, Call]]]


class AllCandidatesFailed(ProviderError):
    """Every candidate failed; carries the most telling failure's status and message."""


class CallStage:
    """The last stage: calls the route's candidates until one answers."""

    def __init__(
        self,
        breakers: Breakers,
        latency: LatencyTracker,
        prepare_call: CallFactory,
        max_retry_wait: float,
    ) -> None:
        self.breakers = breakers
        self.latency = latency
        self.prepare_call = prepare_call
        self.max_retry_wait = max_retry_wait

    async def __call__(self, ctx: RelayContext, call_next: Next) -> Answer:
        assert ctx.route is not None
        failures: list[tuple[Deployment, ProviderError]] = []
        for deployment in ctx.route.candidates:
            breaker = self.breakers.get(deployment.id)
            if not breaker.allow(self.breakers.now()):
                ctx.attempts.append({"deployment": deployment.id, "skipped": "circuit open"})
                continue
            answer = await self._try(ctx, deployment, failures)
            if answer is not None:
                return answer
        retry = self._retry_candidate(failures)
        if retry is not None:
            deployment, wait = retry
            await asyncio.sleep(wait)
            self.breakers.get(deployment.id).held_until = 0.0
            answer = await self._try(ctx, deployment, failures)
            if answer is not None:
                return answer
        raise _summary(failures)

    def _retry_candidate(
        self, failures: list[tuple[Deployment, ProviderError]]
    ) -> tuple[Deployment, float] | None:
        waits = [
            (error.retry_after, deployment)
            for deployment, error in failures
            if error.retry_after is not None and error.retry_after <= self.max_retry_wait
        ]
        if not waits:
            return None
        wait, deployment = min(waits, key=lambda pair: pair[0])
        return deployment, wait

    async def _try(
        self,
        ctx: RelayContext,
        deployment: Deployment,
        failures: list[tuple[Deployment, ProviderError]],
    ) -> Answer | None:
        breaker = self.breakers.get(deployment.id)
        started = time.perf_counter()
        try:
            provider, call = await self.prepare_call(ctx, deployment)
            if ctx.kind == "embedding":
                answer = Answer(body=await provider.embed(call))
            elif ctx.stream:
                answer = await self._open_stream(ctx, deployment, provider, call, started)
            else:
                answer = Answer(body=await provider.chat(call))
        except ProviderError as error:
            self._failed(ctx, deployment, error)
            if not error.retryable:
                raise
            failures.append((deployment, error))
            return None
        except BaseException:
            breaker.release()
            raise
        if failures:
            ctx.failovers = len(failures)
        ctx.deployment = deployment
        if answer.body is not None:
            breaker.success()
            elapsed = (time.perf_counter() - started) * 1000
            self.latency.observe(deployment.id, elapsed, None)
            self._settle(ctx, deployment, Usage.from_openai(answer.body.get("usage")), answer.body)
        return answer

    def _failed(self, ctx: RelayContext, deployment: Deployment, error: ProviderError) -> None:
        breaker = self.breakers.get(deployment.id)
        now = self.breakers.now()
        if error.counts_against_breaker:
            breaker.failure(now)
        else:
            breaker.release()
        if error.retry_after is not None:
            breaker.hold(now + error.retry_after)
        ctx.attempts.append(
            {"deployment": deployment.id, "error": type(error).__name__, "status": error.status}
        )

    async def _open_stream(
        self,
        ctx: RelayContext,
        deployment: Deployment,
        provider: Provider,
        call: Call,
        started: float,
    ) -> Answer:
        chunks = provider.stream(call)
        try:
            first = await chunks.__anext__()
        except StopAsyncIteration:
            raise UpstreamServerError(f"{deployment.provider} sent an empty stream") from None
        except BaseException:
            await chunks.aclose()  # type: ignore[attr-defined]
            raise
        ctx.ttft_ms = (time.perf_counter() - started) * 1000
        return Answer(chunks=self._relay(ctx, deployment, first, chunks, started))

    async def _relay(
        self,
        ctx: RelayContext,
        deployment: Deployment,
        first: dict[str, Any],
        chunks: AsyncIterator[dict[str, Any]],
        started: float,
    ) -> AsyncIterator[dict[str, Any]]:
        breaker = self.breakers.get(deployment.id)
        usage: Usage | None = None
        text: list[str] = []
        completed = False
        try:
            chunk: dict[str, Any] | None = first
            while chunk is not None:
                if chunk.get("usage"):
                    usage = Usage.from_openai(chunk["usage"])
                for choice in chunk.get("choices") or ():
                    content = (choice.get("delta") or {}).get("content")
                    if content:
                        text.append(content)
                yield chunk
                chunk = await anext(chunks, None)
            completed = True
        except ProviderError as error:
            self._failed(ctx, deployment, error)
            raise
        finally:
            await chunks.aclose()  # type: ignore[attr-defined]
            if completed:
                breaker.success()
                elapsed = (time.perf_counter() - started) * 1000
                self.latency.observe(deployment.id, elapsed, ctx.ttft_ms)
            else:
                breaker.release()
            counted = usage or Usage(
                prompt_tokens=ctx.needs.prompt_tokens if ctx.needs else 0,
                completion_tokens=count_text("".join(text)),
            )
            ctx.usage = counted
            ctx.cost_micros = cost_micros(deployment.price, counted)

    def _settle(
        self, ctx: RelayContext, deployment: Deployment, usage: Usage | None, body: dict[str, Any]
    ) -> None:
        if usage is None:
            # The provider gave no usage (some compatible servers): count it ourselves.
            completion = "".join(
                str((choice.get("message") or {}).get("content") or "")
                for choice in body.get("choices") or ()
            )
            usage = Usage(
                prompt_tokens=ctx.needs.prompt_tokens if ctx.needs else 0,
                completion_tokens=count_text(completion),
            )
            body["usage"] = (
                usage.as_openai()
                if ctx.kind == "chat"
                else {
                    "prompt_tokens": usage.prompt_tokens,
                    "total_tokens": usage.prompt_tokens,
                }
            )
        ctx.usage = usage
        ctx.cost_micros = cost_micros(deployment.price, usage)


def _summary(failures: list[tuple[Deployment, ProviderError]]) -> ProviderError:
    if not failures:
        return AllCandidatesFailed(
            "Every provider that could serve this request is unavailable right now "
            "(circuit open or waiting out a Retry-After).",
            status=503,
        )
    real = [error for _, error in failures if not isinstance(error, ProviderNotConfigured)]
    if not real:
        return AllCandidatesFailed("; ".join(error.message for _, error in failures), status=503)
    if all(error.status == 429 for error in real):
        waits = [error.retry_after for error in real if error.retry_after is not None]
        return AllCandidatesFailed(
            "Every provider for this request is rate limited: " + real[-1].message,
            status=429,
            retry_after=min(waits) if waits else None,
        )
    last = real[-1]
    return AllCandidatesFailed(
        f"All {len(failures)} candidate(s) failed; the last: {last.message}",
        status=last.status if last.status >= 500 else 502,
    )
