"""`create_app(services=...)`: builds the FastAPI app for one service or the whole platform."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from auterity import __version__
from auterity.api.engine import build_engine, build_triggers
from auterity.api.services import routers_for
from auterity.api.shared import router as shared_router
from auterity.automatrix.actions.registry import default_registry
from auterity.core.database import Database
from auterity.core.health import router as health_router
from auterity.core.logging import configure_logging
from auterity.core.middleware import BodySizeLimitMiddleware, RequestContextMiddleware
from auterity.core.problems import install_problem_handlers
from auterity.core.ratelimit.middleware import RateLimitMiddleware
from auterity.core.runtime import Runtime
from auterity.core.security_headers import SecurityHeadersMiddleware
from auterity.core.settings import SERVICES, Settings, get_settings
from auterity.core.tracing import configure_tracing, shutdown_tracing
from auterity.events import EventBus
from auterity.identity.context import IdentityContext
from auterity.integrations.http import OutboundHttp, tenant_policies
from auterity.integrations.messaging import Messaging
from auterity.relaycore.accounting import RelayAccounting
from auterity.relaycore.client import InProcessRelayClient
from auterity.relaycore.gateway import RelayGateway
from auterity.relaycore.stages import AccountingStages
from auterity.secrets import SecretService


def create_app(
    services: Iterable[str] | None = None,
    *,
    settings: Settings | None = None,
    database: Database | None = None,
) -> FastAPI:
    """The ASGI app. Pass `database` to share one (tests); otherwise the app owns its own."""
    settings = settings or get_settings()
    chosen = tuple(settings.services if services is None else services)
    unknown = [name for name in chosen if name not in SERVICES]
    if unknown:
        raise ValueError(f"unknown service(s) {unknown}; choose from {list(SERVICES)}")
    configure_logging(settings)
    settings.ensure_secret_key()
    runtime = Runtime.build(settings, chosen, db=database)
    identity = IdentityContext.build(runtime)
    secrets = SecretService.build(runtime)
    actions = default_registry()
    relay = RelayGateway(runtime, secrets) if "relaycore" in chosen else None
    events = EventBus(runtime.db, settings=settings)
    # The messaging routes' own pooled client (the engine's steps use the engine's).
    outbound = OutboundHttp.from_settings(
        settings, tenant_policies=tenant_policies(runtime.db, runtime.cache)
    )
    messaging = Messaging.from_settings(settings, outbound)
    engine = (
        build_engine(
            runtime,
            actions,
            secrets,
            events,
            llm=InProcessRelayClient(relay) if relay else None,
        )
        if "automatrix" in chosen
        else None
    )
    scheduler = build_triggers(runtime, engine, events) if engine is not None else None
    relay_accounting = RelayAccounting.build(runtime) if "relaycore" in chosen else None
    if relay is not None and relay_accounting is not None:
        AccountingStages(relay_accounting, runtime.db, runtime.cache).install(relay.pipeline)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        await identity.start()
        # Before the engine: its subscriber names are registered, so the events of the runs
        # it ends are delivered to them.
        await events.start()
        if engine is not None:
            await engine.start()
        if relay is not None:
            await relay.start()
        if scheduler is not None:
            await scheduler.start()
        if relay_accounting is not None:
            await relay_accounting.start()
        try:
            yield
        finally:
            if scheduler is not None:
                await scheduler.stop()
            if engine is not None:
                await engine.stop()
            # After the engine, which may still commit a run's end (and its event); what is
            # not delivered yet is, by the next process to start on this database.
            await events.stop()
            if relay_accounting is not None:
                # Before the database goes: it writes out the queued usage rows.
                await relay_accounting.stop()
            if relay is not None:
                await relay.aclose()
            await outbound.aclose()
            shutdown_tracing(runtime.db.engine)
            await secrets.close()
            await runtime.close(dispose_db=database is None)

    app = FastAPI(
        title="Auterity",
        version=__version__,
        summary="Workflows, an AI gateway and model management on one core.",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.identity = identity
    app.state.secrets = secrets
    app.state.actions = actions
    app.state.engine = engine
    # Integrations served with AutoMatrix share the engine's: one browser, one vector store.
    app.state.browser = engine.browser if engine is not None else None
    app.state.vectors = engine.vectors if engine is not None else None
    app.state.relay = relay
    app.state.events = events
    app.state.messaging = messaging
    app.state.scheduler = scheduler
    app.state.relay_accounting = relay_accounting
    install_problem_handlers(app)
    # Added innermost first. Outermost to innermost: request context (id, logs, metrics) ->
    # security headers (on every answer, refusals too) -> CORS (so browsers can read a 429)
    # -> rate limit -> body size limit -> routes.
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(
        RateLimitMiddleware,
        limiter=runtime.rate_limiter,
        hasher=runtime.hasher,
        settings=settings,
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=[
                "X-Request-ID",
                "Retry-After",
                "RateLimit-Limit",
                "RateLimit-Remaining",
                "RateLimit-Reset",
                "RateLimit-Policy",
            ],
        )
    app.add_middleware(
        SecurityHeadersMiddleware,
        docs_paths=(app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url),
        hsts_always=settings.hsts_always,
        hsts_max_age_seconds=settings.hsts_max_age_seconds,
    )
    app.add_middleware(RequestContextMiddleware, access_log_enabled=settings.access_log)
    app.include_router(health_router)
    app.include_router(shared_router)
    for router in routers_for(chosen):
        app.include_router(router)
    configure_tracing(app, runtime.db.engine, settings)
    return app
