"""What an IdP administrator imports (SP metadata) and what a browser is sent to (AuthnRequest)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from asgi_lifespan import LifespanManager
from lxml import etree
from onelogin.saml2.utils import OneLogin_Saml2_Utils
from onelogin.saml2.xml_utils import OneLogin_Saml2_XML

from auterity.core.settings import Settings
from tests.integration.identity.conftest import Account, assert_problem
from tests.integration.identity.saml.conftest import Provider

MD = "urn:oasis:names:tc:SAML:2.0:metadata"
SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
POST_BINDING = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"


async def test_metadata_is_valid_saml_metadata_naming_our_urls(
    client: httpx.AsyncClient, owner: Account, provider: Provider
) -> None:
    answer = await client.get(f"/api/auth/saml/{owner.tenant_slug}/okta/metadata")

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/samlmetadata+xml")
    root = etree.fromstring(answer.content)
    assert not isinstance(
        OneLogin_Saml2_XML.validate_xml(answer.content, "saml-schema-metadata-2.0.xsd"), str
    )
    assert root.tag == f"{{{MD}}}EntityDescriptor"
    assert root.get("entityID") == provider.entity_id
    assert (
        provider.entity_id == f"http://testserver/api/auth/saml/{owner.tenant_slug}/okta/metadata"
    )
    acs = root.find(f"{{{MD}}}SPSSODescriptor/{{{MD}}}AssertionConsumerService")
    assert acs is not None
    assert acs.get("Location") == provider.acs_url
    assert acs.get("Binding") == POST_BINDING
    descriptor = root.find(f"{{{MD}}}SPSSODescriptor")
    assert descriptor is not None and descriptor.get("WantAssertionsSigned") == "true"


async def test_metadata_uses_the_public_url_when_set(
    app_factory: Any,
    settings: Settings,
    client: httpx.AsyncClient,
    owner: Account,
    provider: Provider,
) -> None:
    public = app_factory(
        settings=settings.model_copy(update={"public_url": "https://auterity.corp.example"})
    )
    async with LifespanManager(public):
        transport = httpx.ASGITransport(app=public)
        async with httpx.AsyncClient(transport=transport, base_url="http://internal:8000") as http:
            answer = await http.get(f"/api/auth/saml/{owner.tenant_slug}/okta/metadata")
    root = etree.fromstring(answer.content)
    assert root.get("entityID") == (
        f"https://auterity.corp.example/api/auth/saml/{owner.tenant_slug}/okta/metadata"
    )


async def test_login_redirects_to_the_idp_with_an_authn_request(
    client: httpx.AsyncClient, owner: Account, provider: Provider
) -> None:
    answer = await client.get(
        f"/api/auth/saml/{owner.tenant_slug}/okta/login", params={"relay_state": "/runs/42"}
    )

    assert answer.status_code == 302
    location = urlsplit(answer.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == (
        "https://idp.example.test/sso"
    )
    query = parse_qs(location.query)
    assert query["RelayState"] == ["/runs/42"]
    request = etree.fromstring(
        OneLogin_Saml2_Utils.decode_base64_and_inflate(query["SAMLRequest"][0])
    )
    assert request.tag == f"{{{SAMLP}}}AuthnRequest"
    assert request.get("Destination") == "https://idp.example.test/sso"
    assert request.get("AssertionConsumerServiceURL") == provider.acs_url
    assert request.get("ProtocolBinding") == POST_BINDING
    assert request.findtext(f"{{{SAML}}}Issuer") == provider.entity_id
    # Each login gets a fresh request id.
    again = await client.get(f"/api/auth/saml/{owner.tenant_slug}/okta/login")
    other = etree.fromstring(
        OneLogin_Saml2_Utils.decode_base64_and_inflate(
            parse_qs(urlsplit(again.headers["location"]).query)["SAMLRequest"][0]
        )
    )
    assert other.get("ID") != request.get("ID")


async def test_unknown_tenant_provider_or_disabled_provider_is_not_found(
    client: httpx.AsyncClient, owner: Account, provider: Provider
) -> None:
    assert_problem(await client.get("/api/auth/saml/nobody/okta/login"), 404)
    assert_problem(await client.get(f"/api/auth/saml/{owner.tenant_slug}/nope/metadata"), 404)
    await client.patch(
        "/api/auth/saml/providers/okta", json={"enabled": False}, headers=owner.headers
    )
    assert_problem(await client.get(f"/api/auth/saml/{owner.tenant_slug}/okta/login"), 404)
    # Metadata stays available, so the IdP side can be set up before the provider is enabled.
    metadata = await client.get(f"/api/auth/saml/{owner.tenant_slug}/okta/metadata")
    assert metadata.status_code == 200
