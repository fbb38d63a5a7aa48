"""Prometheus metrics: one registry; each component declares its own metrics in its own module.

`counter`/`histogram`/`gauge` are idempotent by name, so a module imported twice (or by two
apps in one test process) gets the same metric instead of a duplicate-registration error.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.metrics import MetricWrapperBase

_M = TypeVar("_M", bound=MetricWrapperBase)
_metrics: dict[str, MetricWrapperBase] = {}

registry: CollectorRegistry = REGISTRY  # includes process_* and python_* collectors

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


def _get_or_create(
    kind: type[_M], name: str, documentation: str, labels: Sequence[str], **kw: object
) -> _M:
    existing = _metrics.get(name)
    if existing is not None:
        if not isinstance(existing, kind):
            raise TypeError(f"metric {name} already registered as {type(existing).__name__}")
        return existing
    metric = kind(name, documentation, labelnames=tuple(labels), registry=registry, **kw)  # type: ignore[arg-type]
    _metrics[name] = metric
    return metric


def counter(name: str, documentation: str, labels: Sequence[str] = ()) -> Counter:
    return _get_or_create(Counter, name, documentation, labels)


def gauge(name: str, documentation: str, labels: Sequence[str] = ()) -> Gauge:
    return _get_or_create(Gauge, name, documentation, labels)


def histogram(
    name: str,
    documentation: str,
    labels: Sequence[str] = (),
    buckets: Sequence[float] = LATENCY_BUCKETS,
) -> Histogram:
    return _get_or_create(Histogram, name, documentation, labels, buckets=tuple(buckets))


def render() -> tuple[bytes, str]:
    """The exposition text and its content type."""
    return generate_latest(registry), CONTENT_TYPE_LATEST


HTTP_REQUESTS = counter(
    "http_requests_total", "HTTP requests answered", ("method", "route", "status")
)
HTTP_LATENCY = histogram(
    "http_request_duration_seconds", "HTTP request latency", ("method", "route")
)
DB_POOL_CHECKED_OUT = gauge("db_pool_connections_in_use", "Database connections checked out")
DB_POOL_SIZE = gauge("db_pool_size", "Database connection pool size")
