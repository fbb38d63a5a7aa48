"""The gateway's money-and-limits stages, built once per process from the runtime.

The request pipeline calls, in order: `rate_limits.admit` → `ledger.reserve` → `cache.lookup`
→ (route, call) → `cache.store` → `ledger.settle` (or `ledger.release` on failure) →
`complete` (usage row, metrics, `relay.request.completed`). Only `complete` is synchronous:
it queues the usage row for the background writer and schedules event delivery.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from auterity.core.cache import Cache
from auterity.core.clock import Clock
from auterity.core.runtime import Runtime
from auterity.relaycore import metrics
from auterity.relaycore.budgets import BudgetLedger, build_ledger
from auterity.relaycore.cache import Embed, ExactCache, ResponseCache, SemanticCache
from auterity.relaycore.events import RequestCompleted, RequestEvents
from auterity.relaycore.local.bundled import embedding_model_installed
from auterity.relaycore.local.embeddings import embed_locally
from auterity.relaycore.ratelimits import RelayRateLimits
from auterity.relaycore.usage import UsageEntry, UsageRecorder

CACHE_NAMESPACE = "auterity:relay:cache:"


@dataclass
class RelayAccounting:
    ledger: BudgetLedger
    rate_limits: RelayRateLimits
    usage: UsageRecorder
    cache: ResponseCache
    events: RequestEvents

    @classmethod
    def build(
        cls, runtime: Runtime, *, embed: Embed | None = None, clock: Clock | None = None
    ) -> RelayAccounting:
        """`embed`: what the semantic cache compares prompts with; by default the bundled
        embedding model when the `local` extra is installed (loaded on the first lookup of a
        tenant that turned `relay.semantic_cache` on); without one, only exact hits."""
        settings = runtime.settings
        if embed is None and embedding_model_installed():
            embed = embed_locally
        response_cache = Cache(
            maxsize=settings.relay_cache_max_entries,
            default_ttl=settings.relay_cache_ttl_seconds,
            redis=runtime.redis,
            namespace=CACHE_NAMESPACE,
        )
        semantic = (
            SemanticCache(
                embed,
                threshold=settings.relay_semantic_cache_threshold,
                ttl_seconds=settings.relay_cache_ttl_seconds,
            )
            if embed is not None
            else None
        )
        return cls(
            ledger=build_ledger(runtime, clock=clock),
            rate_limits=RelayRateLimits(runtime.rate_limiter, runtime.db, runtime.cache),
            usage=UsageRecorder(
                runtime.db,
                batch_size=settings.relay_usage_batch_size,
                flush_interval=settings.relay_usage_flush_seconds,
            ),
            cache=ResponseCache(
                ExactCache(response_cache, ttl_seconds=settings.relay_cache_ttl_seconds), semantic
            ),
            events=RequestEvents(),
        )

    async def start(self) -> None:
        await self.usage.start()

    async def stop(self) -> None:
        """Write out every queued usage row and let event deliveries finish."""
        await self.usage.stop()
        await self.events.drain()

    def complete(self, entry: UsageEntry, *, request_id: str | None = None) -> None:
        """Account for one finished request: usage row (queued), metrics, completion event."""
        self.usage.record(entry)
        provider = entry.provider or "none"
        model = entry.routed_model or entry.requested_model
        metrics.REQUESTS.labels(
            provider, model, entry.status, "hit" if entry.cache_hit else "miss"
        ).inc()
        metrics.LATENCY.labels(provider, model).observe(entry.latency_ms / 1000)
        if entry.ttft_ms is not None:
            metrics.TTFT.labels(provider, model).observe(entry.ttft_ms / 1000)
        if entry.input_tokens:
            metrics.TOKENS.labels(provider, model, "input").inc(entry.input_tokens)
        if entry.output_tokens:
            metrics.TOKENS.labels(provider, model, "output").inc(entry.output_tokens)
        if entry.cached_tokens:
            metrics.TOKENS.labels(provider, model, "cached").inc(entry.cached_tokens)
        if entry.cost_micros:
            metrics.COST.labels(provider, model).inc(entry.cost_micros)
        if entry.status != "ok":
            metrics.ERRORS.labels(provider, model, entry.status).inc()
        if entry.failover_count:
            metrics.FAILOVERS.labels(provider, model).inc(entry.failover_count)
        if self.events.has_subscribers:
            self.events.publish(RequestCompleted(request_id=request_id, **asdict(entry)))
