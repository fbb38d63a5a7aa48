"""Fixtures for the messaging integrations: stand-ins for Twilio and Meta's Graph API, a
real SMTP server, and an app whose settings point at them (127.0.0.1 allowed through the SSRF
guard, as the outbound-HTTP tests do; the default platform refuses it)."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from auterity.core.settings import Settings
from tests.integration.identity.conftest import Account, signup
from tests.integration.integrations.email.smtp_server import SmtpServer
from tests.integration.integrations.standin import StandIn
from tests.integration.integrations.twilio.twilio_api import TwilioApi
from tests.integration.integrations.whatsapp.graph_api import GraphApi

ACCOUNT_SID = "AC" + "5" * 32
AUTH_TOKEN = "twilio-auth-token-9d1f"
ACCESS_TOKEN = "EAAG-whatsapp-access-token-77"
APP_SECRET = "meta-app-secret-31c"
VERIFY_TOKEN = "verify-me-4410"
PHONE_NUMBER_ID = "106540352242922"


@dataclass
class Site:
    twilio: TwilioApi
    twilio_url: str
    graph: GraphApi
    graph_url: str
    smtp: SmtpServer


@pytest.fixture
def site() -> Iterator[Site]:
    twilio = TwilioApi({ACCOUNT_SID: AUTH_TOKEN})
    graph = GraphApi({PHONE_NUMBER_ID: ACCESS_TOKEN})
    servers: list[StandIn] = [twilio.serve(), graph.serve()]
    smtp = SmtpServer().start()
    try:
        yield Site(twilio, servers[0].url, graph, servers[1].url, smtp)
    finally:
        smtp.stop()
        for server in servers:
            server.stop()


@pytest.fixture
def messaging_settings(settings: Settings, site: Site) -> Settings:
    return settings.model_copy(
        update={
            "http_allowed_private_networks": [ipaddress.ip_network("127.0.0.1/32")],
            "twilio_api_base_url": site.twilio_url,
            "whatsapp_api_base_url": site.graph_url,
            "smtp_host": "127.0.0.1",
            "smtp_port": site.smtp.port,
            "smtp_security": "none",
            "smtp_timeout_seconds": 5.0,
            "smtp_from": "Auterity <robot@example.com>",
            "public_url": "https://auterity.example.com",
        }
    )


@pytest.fixture
async def platform(
    app_factory: Any, messaging_settings: Settings
) -> AsyncIterator[httpx.AsyncClient]:
    application = app_factory(settings=messaging_settings)
    async with LifespanManager(application):
        transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


async def store_secrets(client: httpx.AsyncClient, account: Account, **values: str) -> None:
    for name, value in values.items():
        stored = await client.put(
            f"/api/secrets/{name}", json={"value": value}, headers=account.headers
        )
        assert stored.status_code == 200, stored.text


@pytest.fixture
async def account(platform: httpx.AsyncClient) -> Account:
    """A tenant with every messaging credential stored under its conventional name."""
    owner = await signup(platform)
    await store_secrets(
        platform,
        owner,
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        WHATSAPP_ACCESS_TOKEN=ACCESS_TOKEN,
        WHATSAPP_APP_SECRET=APP_SECRET,
        WHATSAPP_VERIFY_TOKEN=VERIFY_TOKEN,
    )
    return owner
