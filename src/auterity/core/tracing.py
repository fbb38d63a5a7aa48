"""OpenTelemetry tracing: FastAPI, httpx and SQLAlchemy spans, W3C trace context and baggage.

Spans are exported (OTLP over HTTP) only when an endpoint is configured; otherwise nothing
is installed and the request path pays nothing.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from auterity import __version__
from auterity.core.settings import Settings

_provider: Any = None


def configure_tracing(app: FastAPI, engine: AsyncEngine, settings: Settings) -> bool:
    """Instrument `app` and `engine`; returns whether tracing is on."""
    global _provider
    if not settings.otel_exporter_otlp_endpoint:
        return False
    from opentelemetry import propagate
    from opentelemetry.baggage.propagation import W3CBaggagePropagator
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
    from opentelemetry.propagators.composite import CompositePropagator
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    if _provider is None:
        endpoint = settings.otel_exporter_otlp_endpoint.rstrip("/")
        if not endpoint.endswith("/v1/traces"):
            endpoint += "/v1/traces"
        _provider = TracerProvider(
            resource=Resource.create(
                {"service.name": settings.service_name, "service.version": __version__}
            ),
            sampler=ParentBased(TraceIdRatioBased(settings.trace_sample_ratio)),
        )
        _provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
        propagate.set_global_textmap(
            CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])
        )
        HTTPXClientInstrumentor().instrument(tracer_provider=_provider)
    FastAPIInstrumentor.instrument_app(app, tracer_provider=_provider, excluded_urls="/metrics")
    SQLAlchemyInstrumentor().instrument(engine=engine.sync_engine, tracer_provider=_provider)
    return True


def tracer(name: str) -> Any:
    """A tracer for manual spans; a no-op tracer when tracing is off."""
    from opentelemetry import trace

    if _provider is None:
        return trace.NoOpTracer()
    return _provider.get_tracer(name, __version__)


def shutdown_tracing(engine: AsyncEngine) -> None:
    """Flush what is buffered and remove the instrumentation (app shutdown)."""
    global _provider
    if _provider is None:
        return
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    _provider.force_flush(5000)
    _provider.shutdown()
    HTTPXClientInstrumentor().uninstrument()
    SQLAlchemyInstrumentor().uninstrument()
    _provider = None
