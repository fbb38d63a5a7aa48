"""The app factory, health endpoints, problem responses and observability, on both databases."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import APIRouter, FastAPI

from auterity.api import create_app
from auterity.core.database import Database
from auterity.core.errors import NotFound
from auterity.core.schemas import StrictModel
from auterity.core.settings import Settings
from tests.conftest import make_settings

probe = APIRouter(prefix="/test")


class Order(StrictModel):
    name: str
    count: int


@probe.post("/orders", status_code=201)
async def create_order(order: Order) -> Order:
    return order


@probe.get("/orders/{order_id}")
async def get_order(order_id: int) -> dict[str, int]:
    raise NotFound(f"Order {order_id} does not exist.")


@probe.get("/boom")
async def boom() -> None:
    raise RuntimeError("password=hunter2 leaked into an exception")


@pytest.fixture
async def probe_client(app_factory: Any) -> Any:
    application: FastAPI = app_factory()
    application.include_router(probe)
    async with LifespanManager(application):
        transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert body["type"].startswith("https://auterity.dev/problems/")
    assert body["title"] and body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]
    return body


async def test_health_reports_version_and_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body) >= {"status", "timestamp", "version", "dependencies"}
    database = body["dependencies"]["database"]
    assert database["status"] == "up" and database["latency_ms"] >= 0


async def test_live_and_ready(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health/live")).json() == {"live": True}
    ready = await client.get("/health/ready")
    assert ready.status_code == 200 and ready.json()["ready"] is True


async def test_not_ready_when_migrations_are_missing(settings: Settings, bare_db: Database) -> None:
    application = create_app(settings=settings, database=bare_db)
    async with LifespanManager(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            response = await http.get("/health/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["ready"] is False and body["failing"] == ["database"]
    assert "auterity db upgrade" in body["dependencies"]["database"]["error"]


async def test_not_ready_names_unreachable_redis(tmp_path: Path, db: Database) -> None:
    settings = make_settings(tmp_path, redis_url="redis://127.0.0.1:1/0")
    application = create_app(settings=settings, database=db)
    async with LifespanManager(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            response = await http.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["failing"] == ["redis"]


async def test_ready_with_real_redis(tmp_path: Path, db: Database, redis_url: str) -> None:
    application = create_app(settings=make_settings(tmp_path, redis_url=redis_url), database=db)
    async with LifespanManager(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            body = (await http.get("/health/ready")).json()
    assert body["ready"] is True and body["dependencies"]["redis"]["status"] == "up"


async def test_unknown_route_and_wrong_method(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/api/nothing-here"), 404)
    body = assert_problem(await client.delete("/health"), 405)
    assert body["instance"] == "/health"


async def test_malformed_json_is_400(probe_client: httpx.AsyncClient) -> None:
    response = await probe_client.post(
        "/test/orders", content=b'{"name": "a",', headers={"content-type": "application/json"}
    )
    assert "Malformed JSON" in assert_problem(response, 400)["detail"]


async def test_wrong_types_and_unknown_fields_are_422_with_pointers(
    probe_client: httpx.AsyncClient,
) -> None:
    response = await probe_client.post(
        "/test/orders", json={"name": "a", "count": "many", "colour": "red"}
    )
    body = assert_problem(response, 422)
    pointers = {item["pointer"]: item["message"] for item in body["errors"]}
    assert set(pointers) == {"/count", "/colour"}
    assert "Unknown field" in pointers["/colour"]


async def test_missing_body_field_and_bad_path_parameter(probe_client: httpx.AsyncClient) -> None:
    body = assert_problem(await probe_client.post("/test/orders", json={"name": "a"}), 422)
    assert body["errors"][0]["pointer"] == "/count"
    body = assert_problem(await probe_client.get("/test/orders/abc"), 422)
    assert body["errors"][0]["pointer"] == "/path/order_id"


async def test_wrong_content_type_is_415(probe_client: httpx.AsyncClient) -> None:
    response = await probe_client.post(
        "/test/orders", content=b"name=a&count=1", headers={"content-type": "text/plain"}
    )
    assert_problem(response, 415)


async def test_oversized_body_is_413(probe_client: httpx.AsyncClient) -> None:
    big = json.dumps({"name": "x" * (3 * 1024 * 1024), "count": 1})
    response = await probe_client.post(
        "/test/orders", content=big, headers={"content-type": "application/json"}
    )
    assert_problem(response, 413)


async def test_service_errors_map_to_their_status(probe_client: httpx.AsyncClient) -> None:
    body = assert_problem(await probe_client.get("/test/orders/7"), 404)
    assert body["detail"] == "Order 7 does not exist."


async def test_unexpected_error_is_a_bare_500_and_the_trace_goes_to_the_log(
    probe_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        response = await probe_client.get("/test/boom", headers={"X-Request-ID": "req-123"})
    body = assert_problem(response, 500)
    assert body["request_id"] == "req-123"
    assert "hunter2" not in response.text and "Traceback" not in response.text
    assert any(record.exc_info for record in caplog.records)


async def test_request_id_is_echoed_or_generated(client: httpx.AsyncClient) -> None:
    given = await client.get("/health/live", headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    hostile = await client.get("/health/live", headers={"X-Request-ID": "bad id\twith spaces"})
    assert hostile.headers["x-request-id"] != "bad id\twith spaces"
    assert len(hostile.headers["x-request-id"]) == 32


async def test_metrics_use_route_templates(probe_client: httpx.AsyncClient) -> None:
    await probe_client.get("/test/orders/12345")
    await probe_client.get("/no/such/path/9876")
    text = (await probe_client.get("/metrics")).text
    assert 'http_requests_total{method="GET",route="/test/orders/{order_id}",status="404"}' in text
    assert 'route="unmatched"' in text
    # Concrete ids never become label values (only timings could contain such digits).
    assert not re.search(r'route="[^"]*(12345|9876)', text)
    assert "http_request_duration_seconds_bucket" in text
    assert "process_cpu_seconds_total" in text


async def test_openapi_and_docs_are_served(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert spec["info"]["title"] == "Auterity"
    assert "/health/ready" in spec["paths"]
    docs = await client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


async def test_cors_allows_configured_origins_only(tmp_path: Path, db: Database) -> None:
    settings = make_settings(tmp_path, cors_origins="https://app.example")
    application = create_app(settings=settings, database=db)
    async with LifespanManager(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            allowed = await http.get("/health/live", headers={"Origin": "https://app.example"})
            denied = await http.get("/health/live", headers={"Origin": "https://evil.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    assert "access-control-allow-origin" not in denied.headers


async def test_single_service_apps(tmp_path: Path, db: Database) -> None:
    application = create_app(["relaycore"], settings=make_settings(tmp_path), database=db)
    async with LifespanManager(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            assert (await http.get("/api")).json()["services"] == ["relaycore"]
    with pytest.raises(ValueError, match="unknown service"):
        create_app(["billing"], settings=make_settings(tmp_path), database=db)


async def test_oversized_streamed_body_without_length_is_413(
    probe_client: httpx.AsyncClient,
) -> None:
    async def chunks() -> Any:
        for _ in range(40):
            yield b"x" * (100 * 1024)

    response = await probe_client.post(
        "/test/orders", content=chunks(), headers={"content-type": "application/json"}
    )
    assert_problem(response, 413)
