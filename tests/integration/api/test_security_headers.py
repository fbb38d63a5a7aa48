"""Security headers on JSON, problem and docs responses; the docs policy admits its own script."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from fastapi import Response

from auterity.core.settings import Settings

COMMON = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
}


def assert_common(response: httpx.Response) -> None:
    for name, value in COMMON.items():
        assert response.headers[name] == value, name
    assert "camera=()" in response.headers["permissions-policy"]


def directives(response: httpx.Response) -> dict[str, list[str]]:
    policy = response.headers["content-security-policy"]
    parsed = {}
    for part in policy.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


async def test_json_and_problem_responses_get_the_strict_policy(client: httpx.AsyncClient) -> None:
    for response in (await client.get("/api"), await client.get("/api/nothing-here")):
        assert_common(response)
        csp = directives(response)
        assert csp["default-src"] == ["'none'"] and csp["frame-ancestors"] == ["'none'"]
        assert "strict-transport-security" not in response.headers
    assert (await client.get("/api/nothing-here")).headers["content-type"] == (
        "application/problem+json"
    )


async def test_docs_policy_allows_the_cdn_and_exactly_its_inline_scripts(
    client: httpx.AsyncClient,
) -> None:
    for path in ("/docs", "/docs/oauth2-redirect"):
        response = await client.get(path)
        assert response.status_code == 200
        assert_common(response)
        csp = directives(response)
        inline = re.findall(rb"<script>(.*?)</script>", response.content, re.DOTALL)
        assert inline, "the page bootstraps with an inline script"
        hashes = {
            "'sha256-" + base64.b64encode(hashlib.sha256(s).digest()).decode() + "'" for s in inline
        }
        assert set(csp["script-src"]) == {"https://cdn.jsdelivr.net", *hashes}
        assert "'unsafe-inline'" not in csp["script-src"]
        assert csp["connect-src"] == ["'self'"]
        assert csp["frame-ancestors"] == ["'none'"]
        # Every external script and stylesheet the page loads is allowed by the policy.
        for url in re.findall(rb'(?:src|href)="(https://[^/"]+)', response.content):
            origin = url.decode()
            assert any(origin in values for values in csp.values()), origin
    redoc = await client.get("/redoc")
    assert "https://cdn.jsdelivr.net" in directives(redoc)["script-src"]
    assert "https://fonts.googleapis.com" in directives(redoc)["style-src"]


async def test_hsts_over_https_or_when_configured(
    client: httpx.AsyncClient, app_factory: Any, settings: Settings
) -> None:
    assert "strict-transport-security" not in (await client.get("/api")).headers
    secure = await client.get("https://testserver/api")
    assert secure.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
    app = app_factory(settings=settings.model_copy(update={"hsts_always": True}))
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            response = await http.get("/api")
    assert response.headers["strict-transport-security"].startswith("max-age=31536000")


async def test_a_header_the_route_sets_is_kept(app_factory: Any) -> None:
    app = app_factory()

    @app.get("/test/page")
    async def page() -> Response:
        return Response("<p>hi</p>", headers={"Content-Security-Policy": "default-src 'self'"})

    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            response = await http.get("/test/page")
    assert response.headers.get_list("content-security-policy") == ["default-src 'self'"]
    assert_common(response)
