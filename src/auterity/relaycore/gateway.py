"""The gateway of one process: catalogs, providers, credentials, breakers, router, pipeline.

Built once by the app factory (`app.state.relay`); every request of the `/v1` surface and the
admin routes goes through it. Provider credentials are read from the settings (operator
keys) or the tenant's secret store and kept only in memory, never logged.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import httpx
from cachetools import TTLCache
from sqlalchemy import select

from auterity.core.errors import ValidationFailed
from auterity.core.logging import get_logger
from auterity.core.outbound import OutboundHttp, platform_policy
from auterity.core.runtime import Runtime
from auterity.core.tenancy import UNSCOPED_KEY
from auterity.identity.principal import Principal
from auterity.integrations.http import tenant_policies
from auterity.relaycore.breaker import Breakers
from auterity.relaycore.catalog import (
    Catalog,
    Deployment,
    build_catalog,
    merge,
    operator_document,
)
from auterity.relaycore.cost_ceiling import cost_ceiling
from auterity.relaycore.failover import CallStage
from auterity.relaycore.models import RelayTenantCatalog
from auterity.relaycore.pipeline import Answer, Next, Pipeline, RelayContext
from auterity.relaycore.providers.anthropic import AnthropicProvider
from auterity.relaycore.providers.base import Call, Provider, ProviderNotConfigured
from auterity.relaycore.providers.compatible import CompatibleProvider
from auterity.relaycore.providers.local import LocalProvider, local_model_installed
from auterity.relaycore.providers.openai import OpenAIProvider
from auterity.relaycore.providers.transport import ProviderHttp
from auterity.relaycore.routing import (
    HeuristicScorer,
    LatencyTracker,
    Needs,
    RouteDecision,
    Router,
)
from auterity.relaycore.tokens import count_inputs, count_messages, encoding
from auterity.secrets import SecretService
from auterity.secrets.backend import SecretNotFound

log = get_logger(__name__)
TENANT_CATALOG_TTL = 30.0
CREDENTIAL_TTL = 300.0
POOL_LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=200, keepalive_expiry=60)


def tenant_catalog_key(tenant_id: uuid.UUID) -> str:
    return f"relay:catalog:{tenant_id}"


def needs_of(ctx: RelayContext) -> Needs:
    body = ctx.body
    if ctx.kind == "embedding":
        return Needs(kind="embedding", prompt_tokens=count_inputs(body.get("input") or ""))
    messages = body.get("messages") or []
    vision = any(
        isinstance(part, dict) and part.get("type") == "image_url"
        for message in messages
        if isinstance(message.get("content"), list)
        for part in message["content"]
    )
    wanted = ctx.capabilities
    return Needs(
        kind="chat",
        prompt_tokens=count_messages(messages, body.get("tools")),
        max_output_tokens=body.get("max_completion_tokens") or body.get("max_tokens"),
        tools=bool(body.get("tools")) or "tools" in wanted,
        json_schema=(body.get("response_format") or {}).get("type") == "json_schema"
        or "json_schema" in wanted,
        streaming=bool(body.get("stream")) or "streaming" in wanted,
        vision=vision or "vision" in wanted,
    )


class RelayGateway:
    def __init__(self, runtime: Runtime, secrets: SecretService) -> None:
        settings = runtime.settings
        self.runtime = runtime
        self.secrets = secrets
        self.operator_document = operator_document(settings.relay_catalog_path)
        try:
            self.catalog = build_catalog(self.operator_document)
        except ValidationFailed as exc:
            from auterity.core.errors import SettingsError

            problems = "; ".join(f"{e.pointer}: {e.message}" for e in exc.errors)
            raise SettingsError(f"The model catalog is invalid: {problems}") from None
        self.trusted_providers = frozenset(self.catalog.document.providers)
        self.tenant_network = tenant_policies(runtime.db, runtime.cache)
        self.outbound = OutboundHttp(
            platform_policy(settings),
            timeout=settings.relay_timeout_seconds,
            max_response_bytes=settings.http_max_response_bytes,
            limits=POOL_LIMITS,
            http2=True,
            ca_bundle=settings.http_ca_bundle,
        )
        http = ProviderHttp(
            self.outbound,
            [p.base_url for p in self.catalog.document.providers.values() if p.base_url],
        )
        self.providers: dict[str, Provider] = {
            "openai": OpenAIProvider(http),
            "anthropic": AnthropicProvider(http),
            "compatible": CompatibleProvider(http),
            "local": LocalProvider(),
        }
        self.breakers = Breakers(
            settings.relay_breaker_failures,
            settings.relay_breaker_window_seconds,
            settings.relay_breaker_cooldown_seconds,
        )
        self.latency = LatencyTracker()
        # NeuroWeaver's trained router replaces the scorer: `gateway.router.scorer = ...`.
        self.router = Router(self.latency, HeuristicScorer(), self.usable)
        self.pipeline = Pipeline(
            [
                ("prepare", self._prepare),
                ("route", self._route),
                ("cost_ceiling", cost_ceiling),
                (
                    "call",
                    CallStage(
                        self.breakers,
                        self.latency,
                        self.prepare_call,
                        settings.relay_max_retry_wait_seconds,
                    ),
                ),
            ]
        )
        self._credentials: TTLCache[tuple[uuid.UUID, str], str] = TTLCache(
            maxsize=10_000, ttl=CREDENTIAL_TTL, timer=time.monotonic
        )
        self._merged: dict[uuid.UUID, tuple[str, Catalog]] = {}
        self._warming: asyncio.Task[Any] | None = None

    async def start(self) -> None:
        """Load the tokenizer in a thread now, so neither start-up nor the first request waits."""
        self._warming = asyncio.create_task(asyncio.to_thread(encoding), name="relay-tokenizer")

    async def aclose(self) -> None:
        if self._warming is not None:
            await asyncio.gather(self._warming, return_exceptions=True)
        for provider in self.providers.values():
            await provider.aclose()
        await self.outbound.aclose()

    # -- catalogs -------------------------------------------------------------------------

    async def tenant_document(self, tenant_id: uuid.UUID) -> dict[str, Any]:
        async def load() -> dict[str, Any]:
            async with self.runtime.db.session(readonly=True) as session:
                document = (
                    await session.execute(
                        select(RelayTenantCatalog.document)
                        .where(RelayTenantCatalog.tenant_id == tenant_id)
                        .execution_options(**{UNSCOPED_KEY: True})
                    )
                ).scalar_one_or_none()
            return {"document": document or {}}

        loaded: dict[str, Any] = await self.runtime.cache.get_or_load(
            tenant_catalog_key(tenant_id), load, TENANT_CATALOG_TTL
        )
        document: dict[str, Any] = loaded["document"]
        return document

    def merged_catalog(self, document: dict[str, Any]) -> Catalog:
        """The operator's catalog with a tenant's document laid over it (validated)."""
        return build_catalog(
            merge(self.operator_document, document), trusted_providers=self.trusted_providers
        )

    async def catalog_for(self, tenant_id: uuid.UUID) -> Catalog:
        document = await self.tenant_document(tenant_id)
        if not document:
            return self.catalog
        key = json.dumps(document, sort_keys=True)
        memo = self._merged.get(tenant_id)
        if memo is not None and memo[0] == key:
            return memo[1]
        try:
            catalog = self.merged_catalog(document)
        except ValidationFailed:
            # The operator's catalog changed under the tenant's layer: serve the operator's.
            log.warning("relay_tenant_catalog_invalid", tenant_id=str(tenant_id))
            catalog = self.catalog
        self._merged[tenant_id] = (key, catalog)
        return catalog

    async def forget_tenant_catalog(self, tenant_id: uuid.UUID) -> None:
        self._merged.pop(tenant_id, None)
        await self.runtime.cache.invalidate(tenant_catalog_key(tenant_id))

    # -- providers and credentials --------------------------------------------------------

    def usable(self, deployment: Deployment) -> bool:
        """Whether this process can call `deployment` at all (a key, an installed model)."""
        spec = deployment.provider_spec
        if spec.kind == "local":
            return local_model_installed(self._kind_of(deployment))
        if spec.api_key_secret or spec.kind == "compatible":
            return True
        return (
            deployment.trusted and deployment.provider in self.runtime.settings.relay_provider_keys
        )

    def _kind_of(self, deployment: Deployment) -> str:
        model = self.catalog.models.get(deployment.model)
        return model.kind if model is not None else "chat"

    async def credential(self, tenant_id: uuid.UUID, deployment: Deployment) -> str | None:
        spec = deployment.provider_spec
        if spec.api_key_secret:
            cache_key = (tenant_id, spec.api_key_secret)
            value = self._credentials.get(cache_key)
            if value is None:
                try:
                    value = await self.secrets.resolve_secret(
                        tenant_id, spec.api_key_secret, on_behalf_of="relaycore"
                    )
                except SecretNotFound:
                    raise ProviderNotConfigured(
                        f"the secret {spec.api_key_secret!r} for provider "
                        f"{deployment.provider!r} does not exist"
                    ) from None
                self._credentials[cache_key] = value
            return value
        if deployment.trusted:
            key = self.runtime.settings.relay_provider_keys.get(deployment.provider)
            return key.get_secret_value() if key is not None else None
        return None

    async def prepare_call(
        self, ctx: RelayContext, deployment: Deployment
    ) -> tuple[Provider, Call]:
        provider = self.providers[deployment.provider_spec.kind]
        timeout = (
            deployment.provider_spec.timeout_seconds or self.runtime.settings.relay_timeout_seconds
        )
        tenant_id = ctx.principal.tenant_id
        key = await self.credential(tenant_id, deployment)
        network = None
        if not deployment.trusted and deployment.provider_spec.kind != "local":
            # A provider the tenant defined reaches what the tenant's own SSRF exceptions allow.
            network = await self.tenant_network(tenant_id)
        return provider, Call(deployment, ctx.body, key, timeout, network=network)

    # -- the default stages ---------------------------------------------------------------

    async def _prepare(self, ctx: RelayContext, call_next: Next) -> Answer:
        ctx.catalog = await self.catalog_for(ctx.principal.tenant_id)
        ctx.needs = needs_of(ctx)
        return await call_next(ctx)

    async def _route(self, ctx: RelayContext, call_next: Next) -> Answer:
        assert ctx.catalog is not None and ctx.needs is not None
        ctx.route = self.route_for(
            ctx.principal, ctx.catalog, ctx.requested_model, ctx.needs, ctx.body
        )
        return await call_next(ctx)

    def route_for(
        self,
        principal: Principal,
        catalog: Catalog,
        requested: str | None,
        needs: Needs,
        body: dict[str, Any],
    ) -> RouteDecision:
        """The candidates for a request of `principal`: its allowed models, its key's policy."""
        policy = principal.tags.get("relay_policy")
        return self.router.route(
            catalog,
            requested,
            needs,
            body,
            allowed_models=principal.allowed_models,
            key_policy=policy if isinstance(policy, str) else None,
        )
