"""Identity-provider metadata and signing keys: fetched, checked against the issuer, cached.

Documents are cached in the core cache (so every process and replica shares them through
Redis when configured); a key id the cached key set lacks triggers one fresh fetch, which
is how a provider's key rotation reaches us before the cache expires.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from auterity.core.cache import Cache
from auterity.core.errors import ProviderUnavailable
from auterity.core.outbound import AddressBlocked, NetworkPolicy, guarded_client

DISCOVERY_TTL = 3600.0
JWKS_TTL = 3600.0
HTTP_TIMEOUT = 10.0
# ID-token algorithms we accept: asymmetric only. `none` is never accepted, and HS* would make
# the client secret (which we store) a token-forging key.
SIGNING_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384",
                      "ES512", "EdDSA", "Ed25519")  # fmt: skip
WELL_KNOWN = "/.well-known/openid-configuration"


@dataclass(frozen=True)
class ProviderMetadata:
    """What we use of a provider's discovery document."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    signing_algorithms: tuple[str, ...]
    token_auth_methods: tuple[str, ...]
    # RFC 9207: the provider names itself in the redirect, which defeats mix-up attacks.
    iss_parameter_supported: bool


def http_client(policy: NetworkPolicy) -> httpx.AsyncClient:
    """The client for calls to identity providers: through the SSRF guard (a provider's
    metadata names the URLs we fetch next, so they are untrusted), bounded time, no
    redirects followed."""
    return guarded_client(policy, timeout=HTTP_TIMEOUT, headers={"Accept": "application/json"})


def url_problem(url: str, *, allow_loopback_http: bool) -> str | None:
    """Why `url` may not be used to reach a provider, or None when it may.

    Plain http would let anyone on the path forge the provider's answers, so it is refused,
    except on a loopback address outside production (a provider on the developer's machine).
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return "is not a valid URL"
    if not parts.hostname or parts.username or parts.password:
        return "must be an absolute URL with a host and no credentials"
    if parts.scheme == "https":
        return None
    if parts.scheme == "http" and allow_loopback_http and _is_loopback(parts.hostname):
        return None
    return "must use https" + (
        " (http is allowed for loopback only)" if allow_loopback_http else ""
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def discovery_url_for(issuer: str, discovery_url: str | None) -> str:
    return discovery_url or issuer.rstrip("/") + WELL_KNOWN


async def _get_json(client: httpx.AsyncClient, url: str, what: str) -> dict[str, Any]:
    try:
        response = await client.get(url)
        response.raise_for_status()
        data = response.json()
    except AddressBlocked:
        raise ProviderUnavailable(
            f"The identity provider's {what} is at an address outbound calls may not reach "
            "(AUTERITY_HTTP_ALLOWED_PRIVATE_NETWORKS / _HOSTS allow private ones)."
        ) from None
    except (httpx.HTTPError, ValueError):
        # The provider's own error text stays in our logs' reach, not in the caller's answer.
        raise ProviderUnavailable(f"The identity provider's {what} could not be fetched.") from None
    if not isinstance(data, dict):
        raise ProviderUnavailable(f"The identity provider's {what} is not a JSON object.")
    return data


class ProviderDirectory:
    """Looks up (and caches) discovery documents and key sets."""

    def __init__(self, cache: Cache, policy: NetworkPolicy, *, allow_loopback_http: bool) -> None:
        self.cache = cache
        self.policy = policy
        self.allow_loopback_http = allow_loopback_http

    def client(self) -> httpx.AsyncClient:
        return http_client(self.policy)

    async def metadata(self, issuer: str, discovery_url: str | None) -> ProviderMetadata:
        url = discovery_url_for(issuer, discovery_url)

        async def load() -> dict[str, Any]:
            async with self.client() as client:
                return await _get_json(client, url, "discovery document")

        document = await self.cache.get_or_load(f"sso:discovery:{url}", load, DISCOVERY_TTL)
        return self._check(issuer, document)

    def _check(self, issuer: str, document: dict[str, Any]) -> ProviderMetadata:
        # OpenID Connect Discovery 1.0 §4.3: the document must name exactly the issuer we trust.
        if document.get("issuer") != issuer:
            raise ProviderUnavailable(
                "The identity provider's discovery document names another issuer; "
                "check the provider's issuer setting."
            )
        endpoints: dict[str, str | None] = {}
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri", "userinfo_endpoint"):
            value = document.get(name)
            if value is None and name == "userinfo_endpoint":
                endpoints[name] = None
                continue
            if not isinstance(value, str) or url_problem(
                value, allow_loopback_http=self.allow_loopback_http
            ):
                raise ProviderUnavailable(
                    f"The identity provider's discovery document has no usable {name}."
                )
            endpoints[name] = value
        advertised = document.get("id_token_signing_alg_values_supported") or ["RS256"]
        methods = document.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        return ProviderMetadata(
            issuer=issuer,
            authorization_endpoint=str(endpoints["authorization_endpoint"]),
            token_endpoint=str(endpoints["token_endpoint"]),
            jwks_uri=str(endpoints["jwks_uri"]),
            userinfo_endpoint=endpoints["userinfo_endpoint"],
            signing_algorithms=tuple(a for a in SIGNING_ALGORITHMS if a in advertised),
            token_auth_methods=tuple(str(m) for m in methods),
            iss_parameter_supported=document.get("authorization_response_iss_parameter_supported")
            is True,
        )

    async def signing_keys(self, jwks_uri: str, *, refresh: bool = False) -> KeySet:
        """The provider's signature keys; `refresh` skips the cache (a key id was unknown)."""
        key = f"sso:jwks:{jwks_uri}"
        document: dict[str, Any] | None = None if refresh else await self.cache.get(key)
        if document is None:
            async with self.client() as client:
                document = await _get_json(client, jwks_uri, "signing keys")
            await self.cache.set(key, document, JWKS_TTL)
        keys = [
            k
            for k in document.get("keys") or []
            if isinstance(k, dict) and k.get("use", "sig") == "sig"
        ]
        try:
            return KeySet.import_key_set({"keys": keys})
        except (JoseError, ValueError, TypeError):
            raise ProviderUnavailable(
                "The identity provider's signing keys are unusable."
            ) from None
