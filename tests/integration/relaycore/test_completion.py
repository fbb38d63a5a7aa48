"""Finishing a request: the usage row, the Prometheus metrics on /metrics, and the event."""

from __future__ import annotations

import uuid

import httpx
from fastapi import FastAPI
from prometheus_client import REGISTRY

from auterity.relaycore.accounting import RelayAccounting
from auterity.relaycore.events import REQUEST_COMPLETED, RequestCompleted
from auterity.relaycore.metrics import set_breaker_state
from auterity.relaycore.usage import UsageEntry
from tests.integration.relaycore.conftest import make_tenant
from tests.integration.relaycore.test_usage import count_rows


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_completion_feeds_metrics_usage_and_subscribers(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    relay: RelayAccounting = app.state.relay_accounting
    model = f"model-{uuid.uuid4().hex[:8]}"  # fresh label values: other tests share the registry
    received: list[RequestCompleted] = []

    async def neuroweaver(event: RequestCompleted) -> None:
        received.append(event)

    async def broken(event: RequestCompleted) -> None:
        raise RuntimeError("a subscriber's bug")

    unsubscribe = relay.events.subscribe(neuroweaver)
    relay.events.subscribe(broken)
    tenant = await make_tenant(app.state.runtime.db)
    ok = UsageEntry(
        tenant_id=tenant, requested_model="fast", routed_model=model, provider="openai",
        status="ok", input_tokens=120, output_tokens=30, cached_tokens=20, cost_micros=450,
        latency_ms=250, ttft_ms=40, failover_count=1, route_reason="alias fast",
    )  # fmt: skip
    failed = UsageEntry(
        tenant_id=tenant, requested_model="fast", routed_model=model, provider="openai",
        status="upstream_error", latency_ms=900,
    )  # fmt: skip
    relay.complete(ok, request_id="req-1")
    relay.complete(failed)
    await relay.events.drain()

    labels = {"provider": "openai", "model": model}
    assert sample("relay_requests_total", **labels, status="ok", cache="miss") == 1
    assert sample("relay_request_duration_seconds_count", **labels) == 2
    assert sample("relay_request_duration_seconds_sum", **labels) == 1.15
    assert sample("relay_time_to_first_token_seconds_count", **labels) == 1
    assert sample("relay_tokens_total", **labels, direction="input") == 120
    assert sample("relay_tokens_total", **labels, direction="output") == 30
    assert sample("relay_tokens_total", **labels, direction="cached") == 20
    assert sample("relay_cost_micro_dollars_total", **labels) == 450
    assert sample("relay_errors_total", **labels, status="upstream_error") == 1
    assert sample("relay_failovers_total", **labels) == 1

    set_breaker_state("openai", model, "open")
    exposed = (await client.get("/metrics")).text
    assert f'relay_circuit_breaker_state{{model="{model}",provider="openai"}} 2.0' in exposed
    assert (
        f'relay_requests_total{{cache="miss",model="{model}",provider="openai",status="ok"}} 1.0'
        in exposed
    )

    assert [(e.name, e.request_id, e.status, e.cost_micros) for e in received] == [
        (REQUEST_COMPLETED, "req-1", "ok", 450),
        (REQUEST_COMPLETED, None, "upstream_error", 0),
    ]
    assert received[0].tenant_id == tenant and received[0].failover_count == 1
    unsubscribe()
    relay.complete(ok)
    await relay.events.drain()
    assert len(received) == 2
    await relay.usage.flush()
    assert await count_rows(app.state.runtime.db) == 3
