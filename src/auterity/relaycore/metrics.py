"""RelayCore's Prometheus metrics, on core's one registry (so `/metrics` exposes them).

Labels are provider and model only, never tenant or key: those would make the series count
grow with customers. Per-tenant figures come from the usage table instead.
"""

from __future__ import annotations

from auterity.core.metrics import counter, gauge, histogram

TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30)
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)

REQUESTS = counter(
    "relay_requests_total",
    "Gateway requests answered, by routed provider/model and outcome",
    ("provider", "model", "status", "cache"),
)
LATENCY = histogram(
    "relay_request_duration_seconds",
    "Gateway request latency, end to end",
    ("provider", "model"),
    buckets=REQUEST_BUCKETS,
)
TTFT = histogram(
    "relay_time_to_first_token_seconds",
    "Time to the first streamed token",
    ("provider", "model"),
    buckets=TTFT_BUCKETS,
)
TOKENS = counter(
    "relay_tokens_total", "Tokens processed", ("provider", "model", "direction")
)  # direction: input | output | cached
COST = counter(
    "relay_cost_micro_dollars_total", "Cost booked, in micro-dollars", ("provider", "model")
)
ERRORS = counter(
    "relay_errors_total", "Gateway requests that failed", ("provider", "model", "status")
)
FAILOVERS = counter(
    "relay_failovers_total", "Requests that moved to a later candidate", ("provider", "model")
)
BREAKER_STATE = gauge(
    "relay_circuit_breaker_state",
    "Circuit breaker per deployment: 0 closed, 1 half-open, 2 open",
    ("provider", "model"),
)
BREAKER_STATES = {"closed": 0, "half_open": 1, "open": 2}


def set_breaker_state(provider: str, model: str, state: str) -> None:
    """Record a deployment's breaker state (`closed`, `half_open` or `open`)."""
    BREAKER_STATE.labels(provider, model).set(BREAKER_STATES[state])
