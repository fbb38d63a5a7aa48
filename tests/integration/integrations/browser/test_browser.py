"""The browser integration on real Chromium against real local servers: scraping JS-rendered
pages, automation steps, the SSRF guard on the page and on every request it makes, timeouts,
screenshots as workflow artifacts."""

from __future__ import annotations

import base64
import ipaddress
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from auterity.core.settings import Settings
from tests.conftest import make_settings
from tests.integration.automatrix.conftest import save_and_run, steps_by_id
from tests.integration.identity.conftest import Account, assert_problem, signup
from tests.integration.integrations.browser.pages import Site, site_pages

pytestmark = pytest.mark.skipif(
    shutil.which("chromium") is None and shutil.which("chromium-browser") is None,
    reason="Chromium is not installed (make test installs Debian's `chromium`)",
)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:  # type: ignore[override]
    # The browser does not depend on the database kind: SQLite only, which keeps it quick.
    # Only 127.0.0.1 is allowed: the "internal" server on 127.0.0.2 stays out of reach.
    return make_settings(
        tmp_path,
        http_allowed_private_networks=[ipaddress.ip_network("127.0.0.1/32")],
        browser_navigation_timeout_seconds=5,
    )


@pytest.fixture(scope="module")
def internal() -> Iterator[Site]:
    server = Site(
        "127.0.0.2", {"/pixel.png": (200, "image/png", "x"), "/secrets": (200, "text/plain", "s")}
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def site(internal: Site) -> Iterator[Site]:
    server = Site("127.0.0.1", site_pages(internal.url))
    server.delay["/slow"] = 3.0
    yield server
    server.stop()


@pytest.fixture
async def client(app_factory: Any) -> AsyncIterator[httpx.AsyncClient]:
    application = app_factory()
    async with LifespanManager(application, startup_timeout=30, shutdown_timeout=30):
        transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


@pytest.fixture
async def account(client: httpx.AsyncClient) -> Account:
    return await signup(client)


async def test_app_starts_without_a_browser_and_scrapes_js_rendered_content(
    client: httpx.AsyncClient, account: Account, site: Site
) -> None:
    browser = client._transport.app.state.browser  # type: ignore[attr-defined]
    assert not browser.started  # lazy: nothing launched until the first job
    answer = await client.post(
        "/api/scrape",
        json={
            "url": f"{site.url}/js",
            "wait_for": "#live",
            "selectors": {"price": "#live", "placeholder": {"selector": "#price", "html": True}},
            "text": True,
            "screenshot": True,
        },
        headers=account.headers,
    )
    assert answer.status_code == 200, answer.text
    page = answer.json()
    assert page["title"] == "Live"
    assert page["data"] == {"price": "42.00", "placeholder": "loading"}
    assert "42.00" in page["text"]
    assert base64.b64decode(page["screenshot"]).startswith(b"\x89PNG")
    assert page["status"] == 200 and page["blocked"] == [] and page["requests"] == 2

    # Redirects are followed (each hop through the guard); lists and attributes are read.
    listing = await client.post(
        "/api/scrape",
        json={
            "url": f"{site.url}/moved",
            "selectors": {
                "skus": {"selector": "li.p", "attribute": "data-sku", "all": True},
                "names": {"selector": "li.p", "all": True},
                "missing": "#nothing",
            },
        },
        headers=account.headers,
    )
    assert listing.status_code == 200, listing.text
    body = listing.json()
    assert body["url"] == f"{site.url}/"
    assert body["data"] == {
        "skus": ["a1", "b2"],
        "names": ["Tea 3.50", "Coffee 4.00"],
        "missing": None,
    }


async def test_requests_to_private_addresses_are_refused(
    client: httpx.AsyncClient, account: Account, site: Site, internal: Site
) -> None:
    before = len(internal.hits)
    answer = await client.post(
        "/api/scrape",
        json={"url": f"{site.url}/private", "wait_for": "text=refused"},
        headers=account.headers,
    )
    assert answer.status_code == 200, answer.text
    blocked = answer.json()["blocked"]
    assert {entry["url"] for entry in blocked} == {
        f"{internal.url}/pixel.png",
        f"{internal.url}/secrets",
    }
    assert all(entry["reason"] == "a loopback address" for entry in blocked)
    assert len(internal.hits) == before  # not one request reached it

    # The page itself on a refused address: a 403 problem naming it, and still no request.
    direct = await client.post(
        "/api/scrape", json={"url": f"{internal.url}/secrets"}, headers=account.headers
    )
    problem = assert_problem(direct, 403)
    assert problem["address"] == "127.0.0.2"
    assert "AUTERITY_HTTP_ALLOWED_PRIVATE_NETWORKS" in problem["detail"]
    assert len(internal.hits) == before
    scheme = await client.post(
        "/api/scrape", json={"url": "file:///etc/passwd"}, headers=account.headers
    )
    assert assert_problem(scheme, 422)


async def test_a_slow_page_times_out_and_automation_fills_and_clicks(
    client: httpx.AsyncClient, account: Account, site: Site
) -> None:
    slow = await client.post(
        "/api/scrape", json={"url": f"{site.url}/slow", "timeout": 1}, headers=account.headers
    )
    problem = assert_problem(slow, 504)
    assert "did not load within 1s" in problem["detail"]

    steps = [
        {"action": "click", "selector": "#next"},
        {"action": "wait", "selector": "#name"},
        {"action": "fill", "selector": "#name", "value": "Ada"},
        {"action": "click", "selector": "#go"},
        {"action": "extract", "name": "greeting", "selector": "#out"},
    ]
    done = await client.post(
        "/api/automate", json={"url": site.url, "steps": steps}, headers=account.headers
    )
    assert done.status_code == 200, done.text
    assert done.json()["data"] == {"greeting": "Hello Ada"}
    assert done.json()["title"] == "Form"

    missing = await client.post(
        "/api/automate",
        json={"url": site.url, "steps": [{"action": "click", "selector": "#nope"}], "timeout": 1},
        headers=account.headers,
    )
    assert_problem(missing, 422)


SCRAPE = """
name: scrape-{suffix}
steps:
  - id: page
    uses: browser.scrape
    with:
      url: "{url}"
      selectors: {{first: "li.p"}}
      screenshot: true
"""


async def test_the_scrape_action_keeps_its_screenshot_as_an_artifact(
    client: httpx.AsyncClient, account: Account, site: Site, settings: Settings
) -> None:
    run = await save_and_run(client, account, SCRAPE.format(suffix="ok", url=site.url + "/"))
    assert run["status"] == "succeeded", run
    output = steps_by_id(run)["page"]["output"]
    assert output["data"] == {"first": "Tea 3.50"}
    shot = output["screenshot"]
    assert shot["media_type"] == "image/png"
    stored = settings.data_dir / "artifacts" / shot["artifact"]
    assert stored.read_bytes().startswith(b"\x89PNG") and stored.stat().st_size == shot["bytes"]

    refused = await save_and_run(
        client, account, SCRAPE.format(suffix="no", url="http://127.0.0.2:9/")
    )
    assert refused["status"] == "failed"
    error = steps_by_id(refused)["page"]["error"]
    assert error["kind"] == "client_error" and error["details"]["address"] == "127.0.0.2"
