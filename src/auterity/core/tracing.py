"""OpenTelemetry tracing: FastAPI, httpx and SQLAlchemy spans, W3C trace context and baggage.

Spans are exported (OTLP over HTTP) only when an endpoint is configured; otherwise nothing
is installed and the request path pays nothing. URLs in spans keep no query string and no
credentials: tokens, signatures and OAuth codes travel there, and spans leave the process.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from auterity import __version__
from auterity.core.outbound import display_url
from auterity.core.settings import Settings

_provider: Any = None
_URL_ATTRIBUTES = ("http.url", "url.full")  # old and new HTTP semantic conventions


def configure_tracing(app: FastAPI, engine: AsyncEngine, settings: Settings) -> bool:
    """Instrument `app` and `engine`; returns whether tracing is on."""
    global _provider
    if not settings.otel_exporter_otlp_endpoint:
        return False
    from opentelemetry import propagate
    from opentelemetry.baggage.propagation import W3CBaggagePropagator
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
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
        instrument_httpx(_provider)
    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=_provider,
        excluded_urls="/metrics",
        server_request_hook=lambda span, scope: redact_span_url(span),
    )
    SQLAlchemyInstrumentor().instrument(engine=engine.sync_engine, tracer_provider=_provider)
    return True


def instrument_httpx(provider: Any) -> None:
    """Trace every httpx client, with the URLs of its spans redacted."""
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    async def redact_async(span: Any, request: Any) -> None:
        redact_span_url(span)

    HTTPXClientInstrumentor().instrument(
        tracer_provider=provider,
        request_hook=lambda span, request: redact_span_url(span),
        async_request_hook=redact_async,
    )


def redact_span_url(span: Any) -> None:
    """Overwrite the URL attributes of a span with the URL less its query and credentials."""
    if span is None or not span.is_recording():
        return
    attributes = getattr(span, "attributes", None) or {}
    for name in _URL_ATTRIBUTES:
        value = attributes.get(name)
        if isinstance(value, str):
            span.set_attribute(name, display_url(value))
    target = attributes.get("http.target")
    if isinstance(target, str) and "?" in target:
        span.set_attribute("http.target", target.split("?", 1)[0])
    if attributes.get("url.query"):
        span.set_attribute("url.query", "[redacted]")


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
