"""httpx spans keep no query string and no credentials: real requests, an in-memory exporter."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from auterity.core.tracing import instrument_httpx, redact_span_url
from tests.integration.integrations.http.origin import Origin

SECRET = "tok-5c1e-do-not-export"


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    instrument_httpx(provider)
    try:
        yield memory
    finally:
        HTTPXClientInstrumentor().uninstrument()
        provider.shutdown()


async def test_client_spans_record_the_url_without_query_or_credentials(
    exporter: InMemorySpanExporter, origin: Origin
) -> None:
    host = origin.url.removeprefix("http://")
    async with httpx.AsyncClient() as client:
        answer = await client.get(
            f"http://user:{SECRET}@{host}/echo/traced", params={"access_token": SECRET, "q": 1}
        )
    with httpx.Client() as client:
        client.get(f"{origin.url}/echo/traced-sync?sig={SECRET}")
    assert answer.status_code == 200
    assert origin.seen("/echo/traced")[0].query["access_token"] == [SECRET]  # it was sent
    spans = exporter.get_finished_spans()
    assert len(spans) == 2
    urls = sorted(
        str(value)
        for span in spans
        for name, value in (span.attributes or {}).items()
        if name in ("http.url", "url.full")
    )
    assert urls and all("?" not in url and "@" not in url for url in urls)
    assert f"{origin.url}/echo/traced" in urls and f"{origin.url}/echo/traced-sync" in urls
    for span in spans:
        assert SECRET not in repr(dict(span.attributes or {}))


def test_server_span_attributes_lose_their_query() -> None:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("GET /api/auth/sso/callback") as span:
        span.set_attribute("http.target", f"/api/auth/sso/callback?code={SECRET}&state=s")
        span.set_attribute("http.url", f"https://auterity.example/cb?code={SECRET}")
        span.set_attribute("url.query", f"code={SECRET}")
        span.set_attribute("url.path", "/api/auth/sso/callback")
        redact_span_url(span)
    (finished,) = memory.get_finished_spans()
    assert dict(finished.attributes or {}) == {
        "http.target": "/api/auth/sso/callback",
        "http.url": "https://auterity.example/cb",
        "url.query": "[redacted]",
        "url.path": "/api/auth/sso/callback",
    }
