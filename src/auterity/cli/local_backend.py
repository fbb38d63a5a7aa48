"""Workflow commands on the local database (the embedded default): the same services the API
calls, in one tenant, with an engine in this process that drives only the command's own run.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from auterity.api.engine import build_engine
from auterity.automatrix import python_modules, retry, service
from auterity.automatrix.actions.registry import ActionRegistry, default_registry
from auterity.automatrix.engine import Engine
from auterity.automatrix.models import FINISHED_RUN, Run
from auterity.automatrix.schemas import RunOut, RunRetry, WorkflowOut
from auterity.cli.local_tenant import choose_tenant
from auterity.core import migrate
from auterity.core.errors import ServiceUnavailable
from auterity.core.logging import configure_logging
from auterity.core.runtime import Runtime
from auterity.core.settings import get_settings
from auterity.core.tenancy import bind_tenant
from auterity.events import EventBus
from auterity.relaycore.client import InProcessRelayClient
from auterity.relaycore.gateway import RelayGateway
from auterity.secrets import SecretService

# How long `runs cancel` waits for a run another process drives to notice the request.
CANCEL_WAIT_SECONDS = 10.0


class LocalBackend:
    def __init__(
        self,
        runtime: Runtime,
        secrets: SecretService,
        registry: ActionRegistry,
        engine: Engine,
        tenant_id: uuid.UUID,
    ) -> None:
        self.runtime = runtime
        self.db = runtime.db
        self.secrets = secrets
        self.registry = registry
        self.engine = engine
        self.tenant_id = tenant_id
        self.relay: RelayGateway | None = None

    @classmethod
    async def open(cls, tenant: str | None) -> LocalBackend:
        settings = get_settings()
        # The command shows its own progress; log lines (on stderr) are for problems only.
        quiet = settings.log_level in ("debug", "info")
        configure_logging(
            settings.model_copy(update={"log_level": "warning"}) if quiet else settings
        )
        runtime = Runtime.build(settings, ("automatrix",))
        try:
            if not await migrate.is_at_head(runtime.db):
                await migrate.upgrade(runtime.db)
            chosen = await choose_tenant(runtime.db, tenant)
        except BaseException:
            await runtime.close()
            raise
        secrets = SecretService.build(runtime)
        registry = default_registry()
        # RelayCore in this process too, so `llm.chat` steps work on the embedded default.
        relay = RelayGateway(runtime, secrets)
        # Its runs' `run.*` events go to the outbox like a server's; the servers' dispatchers
        # on this database deliver them (to event triggers), since none runs here.
        events = EventBus(runtime.db, settings=runtime.settings)
        engine = build_engine(runtime, registry, secrets, events, llm=InProcessRelayClient(relay))
        backend = cls(runtime, secrets, registry, engine, chosen.id)
        backend.relay = relay
        return backend

    async def close(self) -> None:
        await self.engine.executor.stop()  # the Celery executor's reply listener, if started
        if self.relay is not None:
            await self.relay.aclose()
        await self.secrets.close()
        await self.runtime.close()

    @asynccontextmanager
    async def _session(self, *, readonly: bool = False) -> AsyncIterator[AsyncSession]:
        """A unit of work bound to the chosen tenant, like the API's `TenantSession`."""
        async with self.db.session(readonly=readonly) as session:
            bind_tenant(session, self.tenant_id)
            yield session

    async def save_workflow(self, document: Any, source: str | None) -> tuple[WorkflowOut, bool]:
        spec = service.checked_spec(document, self.registry)
        async with self._session() as session:
            workflow, version, saved = await service.save_by_name(
                session, spec, document, source, None
            )
            return WorkflowOut.from_row(workflow, version.spec), saved

    async def deploy_module(self, name: str, source: str) -> str:
        # The local CLI acts as the operator (it holds the database), who may deploy.
        async with self._session() as session:
            return await python_modules.deploy(
                session, self.tenant_id, name, source, "operator (local CLI)"
            )

    async def start_run(self, workflow_id: uuid.UUID, inputs: dict[str, Any]) -> RunOut:
        async with self._session() as session:
            workflow = await service.get_workflow(session, workflow_id)
            run, _ = await service.start_run(
                session, workflow, inputs, version=None, idempotency_key=None, created_by=None
            )
            self.engine.reserve(run)
            return RunOut.model_validate(run)

    async def retry_run(self, run_id: uuid.UUID, body: RunRetry) -> RunOut:
        async with self._session() as session:
            original = await service.get_run(session, run_id)
            run = await retry.retry_run(
                session,
                self.registry,
                original,
                from_step=body.from_step,
                inputs=body.inputs,
                with_=body.with_,
            )
            self.engine.reserve(run)
            return await service.run_view(session, run.id)

    async def get_run(self, run_id: uuid.UUID) -> RunOut:
        async with self._session(readonly=True) as session:
            return await service.run_view(session, run_id)

    async def list_runs(
        self, *, status: str | None, workflow_id: uuid.UUID | None, limit: int
    ) -> list[RunOut]:
        query = select(Run).order_by(Run.id.desc()).limit(limit)
        if status:
            query = query.where(Run.status == status)
        if workflow_id:
            query = query.where(Run.workflow_id == workflow_id)
        async with self._session(readonly=True) as session:
            return [RunOut.model_validate(r) for r in (await session.execute(query)).scalars()]

    async def workflow_name(self, workflow_id: uuid.UUID) -> str:
        async with self._session(readonly=True) as session:
            return (await service.get_workflow(session, workflow_id)).name

    async def cancel_run(self, run_id: uuid.UUID) -> RunOut:
        async with self._session() as session:
            await service.request_cancel(session, run_id)
        # Nobody may be driving it (its command was interrupted): then stop it here.
        if not await self.engine.drive_here(run_id):
            # On timeout it is shown as still running; the process driving it stops it soon.
            with contextlib.suppress(TimeoutError):
                await self.engine.wait_for(run_id, CANCEL_WAIT_SECONDS)
        return await self.get_run(run_id)

    async def follow(self, run_id: uuid.UUID) -> AsyncIterator[RunOut]:
        driver = asyncio.create_task(self.engine.drive_here(run_id), name=f"drive-{run_id}")
        try:
            while True:
                snapshot = await self.get_run(run_id)
                yield snapshot
                if snapshot.status in FINISHED_RUN:
                    return
                if driver.done() and driver.result():
                    final = await self.get_run(run_id)
                    if final.status not in FINISHED_RUN:
                        raise ServiceUnavailable(
                            f"The engine stopped driving run {run_id} before it ended "
                            "(see the log above); `auterity up` resumes it."
                        )
                    yield final
                    return
                # Driven here: woken at each change. Driven by another process: polled.
                await self.engine.hub.wait(run_id, 0.5 if not driver.done() else 1.0)
        finally:
            if not driver.done():
                driver.cancel()
            await asyncio.gather(driver, return_exceptions=True)
