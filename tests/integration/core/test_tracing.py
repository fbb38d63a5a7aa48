"""Tracing exports real OTLP/HTTP protobuf to a collector on loopback and propagates context."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from auterity.api import create_app
from auterity.core.database import Database
from tests.conftest import make_settings


class Collector:
    def __init__(self) -> None:
        self.requests: list[ExportTraceServiceRequest] = []
        self.paths: list[str] = []


@pytest.fixture
def collector() -> Iterator[tuple[str, Collector]]:
    received = Collector()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            received.requests.append(request)
            received.paths.append(self.path)
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()


async def test_spans_are_exported_with_incoming_trace_context(
    tmp_path: Path, db: Database, collector: tuple[str, Collector]
) -> None:
    if not db.is_sqlite:
        pytest.skip("the tracer provider is process-wide; one database is enough")
    endpoint, received = collector
    settings = make_settings(tmp_path, otel_exporter_otlp_endpoint=endpoint)
    application = create_app(settings=settings, database=db)
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    async with LifespanManager(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            response = await http.get(
                "/health/ready",
                params={"token": "q-secret-123"},  # never in a span (queries carry secrets)
                headers={
                    "traceparent": f"00-{trace_id}-00f067aa0ba902b7-01",
                    "baggage": "tenant=acme",
                },
            )
            assert response.status_code == 200
    # leaving the lifespan flushed the exporter
    assert received.paths and received.paths[0] == "/v1/traces"
    spans = [
        span
        for request in received.requests
        for resource in request.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]
    names = {span.name for span in spans}
    assert any("/health/ready" in name for name in names), names
    assert any(name.startswith(("SELECT", "connect")) or "sqlite" in name for name in names), names
    assert {span.trace_id.hex() for span in spans if "/health/ready" in span.name} == {trace_id}
    attributes = [(kv.key, str(kv.value)) for span in spans for kv in span.attributes]
    assert any(key in ("http.target", "url.path") for key, _ in attributes), attributes
    assert not [kv for kv in attributes if "q-secret-123" in kv[1]], attributes
