"""The durable engine: claims runs with a lease and drives each one through its step graph.

State lives in the database; memory is a cache of it. A run is driven by the process that
holds its lease; if that process dies, the lease lapses and another process (or the same one
restarted) resumes from the rows: finished steps are kept, a step that was running runs again
with the same idempotency key. Retry waits and timers are due times in rows, not sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import CursorResult, or_, select, update

from auterity.automatrix.actions.base import ActionContext, SecretLookup, TenantSettingsLookup
from auterity.automatrix.actions.registry import ActionRegistry
from auterity.automatrix.calls import EngineWorkflowCalls
from auterity.automatrix.driver import CANCEL_POLL, RunDriver
from auterity.automatrix.events import EventHub
from auterity.automatrix.executors.base import Executor
from auterity.automatrix.executors.local import LocalExecutor
from auterity.automatrix.graph import StepGraph
from auterity.automatrix.keyvalue import WorkflowState
from auterity.automatrix.limits import Candidate, ConcurrencyLimits
from auterity.automatrix.models import FINISHED_RUN, Run, StepRun, WorkflowVersion
from auterity.automatrix.overrides import effective_spec
from auterity.automatrix.python_modules import ModuleLoader
from auterity.automatrix.relay_embedder import RelayEmbedder
from auterity.automatrix.sandbox import CodeSandbox
from auterity.automatrix.state import Plan
from auterity.automatrix.waiting import RunWaiters
from auterity.automatrix.writer import Writer
from auterity.core.artifacts import ArtifactStore, LocalArtifactStore
from auterity.core.cache import Cache
from auterity.core.clock import utcnow
from auterity.core.database import Database
from auterity.core.logging import get_logger
from auterity.core.metrics import gauge
from auterity.events import EventBus, PlatformEvent
from auterity.integrations.browser import BrowserService
from auterity.integrations.http import OutboundHttp
from auterity.integrations.messaging import Messaging
from auterity.integrations.vectors import VectorService
from auterity.relaycore.client import RelayClient

log = get_logger(__name__)
ACTIVE_RUNS = gauge("workflow_runs_active", "Runs this process is driving")
CLAIM_BATCH = 100
PLAN_CACHE_SIZE = 256


class Engine:
    def __init__(
        self,
        db: Database,
        registry: ActionRegistry,
        *,
        secrets: SecretLookup | None = None,
        http: OutboundHttp | None = None,
        llm: RelayClient | None = None,
        owner: str | None = None,
        lease_seconds: float = 30.0,
        poll_interval: float = 1.0,
        max_concurrent_steps: int = 500,
        artifacts: ArtifactStore | None = None,
        inline_output_bytes: int = 256 * 1024,
        limits: ConcurrencyLimits | None = None,
        sandbox: CodeSandbox | None = None,
        tenant_settings: TenantSettingsLookup | None = None,
        executor: Callable[[str], Executor] | None = None,
        events: EventBus | None = None,
        browser: BrowserService | None = None,
        vectors: VectorService | None = None,
        messaging: Messaging | None = None,
    ) -> None:
        """`limits`: the run and step caps (default: the settings' and each tenant's, read
        through a cache of this engine's own). `executor` makes, from this engine's owner id,
        where step attempts run (default: here, as asyncio tasks)."""
        self.db = db
        self.registry = registry
        self.secrets = secrets
        self.http = http or OutboundHttp()
        self.messaging = messaging or Messaging.from_settings(db.settings, self.http)
        # Zygotes start on the first code step, not here: an engine without one costs nothing.
        self.sandbox = sandbox or CodeSandbox(db.settings)
        self.tenant_settings = tenant_settings
        self.python_modules = ModuleLoader(db)
        self.llm = llm
        # Chromium starts on the first browser step and the vector store opens on the first
        # vector step: an engine that never uses them pays nothing for them.
        self.browser = browser or BrowserService.from_settings(db.settings, self.http)
        self.vectors = vectors or VectorService.from_settings(
            db.settings, db, embedder=RelayEmbedder(llm) if llm is not None else None
        )
        self.state = WorkflowState(db)
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.lease = timedelta(seconds=lease_seconds)
        self.poll_interval = poll_interval
        self.step_slots = asyncio.Semaphore(max_concurrent_steps)
        self.artifacts = artifacts or LocalArtifactStore(db.settings.data_dir / "artifacts")
        self.inline_output_bytes = inline_output_bytes
        self.hub = EventHub()
        self.limits = limits or ConcurrencyLimits.from_settings(db, Cache())
        self.executor: Executor = executor(self.owner) if executor else LocalExecutor()
        self.events = events
        self.calls = EngineWorkflowCalls(self)
        self._drivers: dict[uuid.UUID, asyncio.Task[str | None]] = {}
        self._wake = asyncio.Event()
        self._poked: set[uuid.UUID] = set()
        self._scheduler: asyncio.Task[None] | None = None
        self._watcher: asyncio.Task[None] | None = None
        self.writer = Writer(db)
        self._plans: dict[tuple[uuid.UUID, int], asyncio.Future[Plan]] = {}
        self.waiters = RunWaiters(db)

    def action_context(
        self, run: Run, step_id: str, attempt: int, idempotency_key: str, item: Any
    ) -> ActionContext:
        """What an attempt's action sees of the platform: the one place it is put together,
        wherever the attempt runs (the driving process or a Celery worker)."""
        return ActionContext(
            tenant_id=run.tenant_id,
            run_id=run.id,
            step_id=step_id,
            attempt=attempt,
            idempotency_key=idempotency_key,
            item=item,
            workflows=self.calls,
            depth=run.depth,
            http=self.http,
            sandbox=self.sandbox,
            tenant_settings=self.tenant_settings,
            python_modules=self.python_modules,
            secrets=self.secrets,
            messaging=self.messaging,
            llm=self.llm,
            workflow=str(run.workflow_id),
            browser=self.browser,
            vectors=self.vectors,
            artifacts=self.artifacts,
            state=self.state,
        )

    async def start(self) -> None:
        if self._scheduler is None:
            self._scheduler = asyncio.create_task(self._schedule_loop(), name="engine-scheduler")
            self._watcher = asyncio.create_task(self._watch_cancels(), name="engine-cancels")
            await self.executor.start()

    async def stop(self) -> None:
        """Stop driving; leases are released so another process resumes the runs at once."""
        driven = list(self._drivers)  # each driver task forgets its run as it ends
        # The status reader stays: like wait_for itself, it works whether or not this engine
        # drives runs, and it ends once nobody waits.
        tasks = [
            t for t in (self._scheduler, self._watcher, *self._drivers.values()) if t is not None
        ]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._scheduler = self._watcher = None
        await self.writer.close()
        if driven:
            async with self.db.session() as session:
                await session.execute(
                    update(Run)
                    .where(Run.id.in_(driven), Run.lease_owner == self.owner)
                    .values(lease_owner=None, lease_expires_at=None)
                )
        self._drivers.clear()
        await self.executor.stop()
        await self.browser.aclose()
        await self.vectors.aclose()
        await self.http.aclose()
        await self.sandbox.close()
        if self.llm is not None:
            await self.llm.aclose()

    def wake(self, run_id: uuid.UUID | None = None) -> None:
        """Look for work now (a run was started, resumed or cancelled)."""
        self._wake.set()
        if run_id is not None:
            if run_id in self._drivers:
                self._poked.add(run_id)  # its driver re-reads the run (cancel) on its next turn
            self.hub.notify(run_id)

    def end_event(
        self, run: Run, status: str, outputs: Any, error: dict[str, Any] | None
    ) -> PlatformEvent | None:
        """The platform event `run.<status>`, for the outbox: the driver commits it in the
        transaction that writes the run's end, so it is delivered exactly when the run ended."""
        if self.events is None:
            return None
        data = {
            "run_id": str(run.id),
            "workflow_id": str(run.workflow_id),
            "status": status,
            "outputs": outputs,
            "error": error,
        }
        return PlatformEvent(tenant_id=run.tenant_id, type=f"run.{status}", data=data)

    def events_committed(self) -> None:
        """Platform events were just committed: deliver them now, not at the next poll."""
        if self.events is not None:
            self.events.wake()

    @property
    def watching_cancels(self) -> bool:
        """Whether the watcher pokes drivers of runs cancelled from another process (not when
        the CLI drives a run with `drive_here`; its driver then reads the flag itself)."""
        return self._watcher is not None and not self._watcher.done()

    def take_poke(self, run_id: uuid.UUID) -> bool:
        """Whether `wake(run_id)` was called since the last time its driver asked."""
        if run_id in self._poked:
            self._poked.discard(run_id)
            return True
        return False

    async def _watch_cancels(self) -> None:
        """One query every CANCEL_POLL seconds for all runs driven here, instead of one per
        run: pokes the drivers of runs whose cancel was asked for (from any process)."""
        while True:
            await asyncio.sleep(CANCEL_POLL)
            try:
                driven = list(self._drivers)
                for start in range(0, len(driven), 500):
                    async with self.db.session(readonly=True) as session:
                        cancelled = (
                            await session.execute(
                                select(Run.id).where(
                                    Run.id.in_(driven[start : start + 500]),
                                    Run.cancel_requested.is_(True),
                                )
                            )
                        ).scalars()
                        for run_id in cancelled:
                            self.wake(run_id)
            except Exception:  # keep watching through a transient database error
                log.exception("engine_cancel_watch_failed")

    async def _schedule_loop(self) -> None:
        while True:
            backlog = False
            try:
                claimed = await self.claim_runs(CLAIM_BATCH)
                # A full batch means more runs may be queued: claim again at once instead of
                # leaving them for the next poll (a burst of runs would go at 100 per second).
                # So is a batch in which a tenant turned out full: claim again without its
                # queued runs, so they do not crowd out other tenants' runs.
                backlog = len(claimed) == CLAIM_BATCH or self.limits.newly_full
            except Exception:  # keep scheduling through a transient database error
                log.exception("engine_claim_failed")
            if backlog:
                await asyncio.sleep(0)  # let the drivers just started take their first turn
                continue
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
            # lands as it times out, and this loop would then never stop.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_interval):
                    await self._wake.wait()
            self._wake.clear()

    async def claim_runs(self, limit: int = CLAIM_BATCH) -> list[uuid.UUID]:
        filters = await self.limits.claim_filters()
        now = utcnow()
        async with self.db.session(readonly=True) as session:
            candidates = (
                await session.execute(
                    select(Run.id, Run.tenant_id, Run.status, Run.parent_run_id)
                    .where(
                        Run.status.not_in(FINISHED_RUN),
                        or_(Run.lease_owner.is_(None), Run.lease_expires_at < now),
                        *filters,
                    )
                    .order_by(Run.created_at)
                    .limit(limit)
                )
            ).all()
        wanted = [Candidate(*row) for row in candidates if row[0] not in self._drivers]
        admitted = await self.limits.admit_runs(self.owner, self.lease, wanted) if wanted else []
        claimed = await self._claim_many(admitted) if admitted else []
        for run, rows in claimed:
            task = asyncio.create_task(self._drive(run, rows), name=f"run-{run.id}")
            self._drivers[run.id] = task
        ACTIVE_RUNS.set(len(self._drivers))
        return [run.id for run, _ in claimed]

    async def _claim_many(self, run_ids: list[uuid.UUID]) -> list[tuple[Run, list[StepRun]]]:
        """`claim` for a batch in one statement, reading the step rows of the runs taken in
        the same transaction; answers those runs with their rows, in the given order."""
        now = utcnow()
        async with self.db.session() as session:
            runs = {
                run.id: run
                for run in (
                    await session.execute(
                        update(Run)
                        .where(
                            Run.id.in_(run_ids),
                            Run.status.not_in(FINISHED_RUN),
                            or_(
                                Run.lease_owner.is_(None),
                                Run.lease_expires_at < now,
                                Run.lease_owner == self.owner,
                            ),
                        )
                        .values(lease_owner=self.owner, lease_expires_at=now + self.lease)
                        .returning(Run)
                        .execution_options(synchronize_session=False)
                    )
                ).scalars()
            }
            rows: dict[uuid.UUID, list[StepRun]] = {run_id: [] for run_id in runs}
            if runs:
                stored = await session.execute(
                    select(StepRun).where(StepRun.run_id.in_(list(runs)), StepRun.item_index == -1)
                )
                for row in stored.scalars():
                    rows[row.run_id].append(row)
        return [(runs[run_id], rows[run_id]) for run_id in run_ids if run_id in runs]

    async def plan(
        self,
        workflow_id: uuid.UUID,
        version: int,
        overrides: dict[str, dict[str, Any]] | None = None,
    ) -> Plan:
        """The parsed spec and graph of a workflow version, read and built once per process
        (versions never change); a run with step overrides (a retry) gets its own."""
        if overrides:
            return await self._load_plan(workflow_id, version, overrides)
        key = (workflow_id, version)
        loading = self._plans.get(key)
        if loading is None:
            loading = asyncio.ensure_future(self._load_plan(workflow_id, version))
            self._plans[key] = loading
            while len(self._plans) > PLAN_CACHE_SIZE:
                self._plans.pop(next(iter(self._plans)))
        try:
            # Shielded: the runs of a version share one load, which a cancelled driver must
            # not cancel for the others.
            return await asyncio.shield(loading)
        except Exception:
            if self._plans.get(key) is loading:
                del self._plans[key]  # the next run tries again
            raise

    async def _load_plan(
        self,
        workflow_id: uuid.UUID,
        version: int,
        overrides: dict[str, dict[str, Any]] | None = None,
    ) -> Plan:
        async with self.db.session(readonly=True) as session:
            document = (
                await session.execute(
                    select(WorkflowVersion.spec).where(
                        WorkflowVersion.workflow_id == workflow_id,
                        WorkflowVersion.version == version,
                    )
                )
            ).scalar_one()
        spec = effective_spec(document, overrides)
        return Plan(spec, StepGraph.build(spec))

    async def claim(self, run_id: uuid.UUID) -> bool:
        """Take the run's lease if it is free or lapsed: one atomic UPDATE on either database."""
        now = utcnow()
        async with self.db.session() as session:
            result = await session.execute(
                update(Run)
                .where(
                    Run.id == run_id,
                    Run.status.not_in(FINISHED_RUN),
                    or_(
                        Run.lease_owner.is_(None),
                        Run.lease_expires_at < now,
                        Run.lease_owner == self.owner,
                    ),
                )
                .values(lease_owner=self.owner, lease_expires_at=now + self.lease)
            )
            return bool(_rowcount(result) == 1)

    async def renew(self, run_id: uuid.UUID) -> bool:
        now = utcnow()
        async with self.db.session() as session:
            result = await session.execute(
                update(Run)
                .where(Run.id == run_id, Run.lease_owner == self.owner)
                .values(lease_expires_at=now + self.lease)
            )
            return bool(_rowcount(result) == 1)

    async def release(self, run_id: uuid.UUID) -> None:
        async with self.db.session() as session:
            await session.execute(
                update(Run)
                .where(Run.id == run_id, Run.lease_owner == self.owner)
                .values(lease_owner=None, lease_expires_at=None)
            )

    def reserve(self, run: Run) -> None:
        """Lease a run not yet committed to this engine, so no other process claims it first."""
        run.lease_owner, run.lease_expires_at = self.owner, utcnow() + self.lease

    async def drive_here(self, run_id: uuid.UUID) -> bool:
        """Claim the run and drive it in the calling task until it ends or stops (the CLI does
        this instead of `start`, so it drives its own run and no other). False when another
        process holds the run's lease."""
        claimed = await self._claim_many([run_id])
        if not claimed:
            return False
        run, rows = claimed[0]
        try:
            await self._drive(run, rows)
        except asyncio.CancelledError:
            # Interrupted (Ctrl-C): let another engine resume the run now, not when the lease ends.
            await self.release(run_id)
            raise
        return True

    async def _drive(self, run: Run, rows: list[StepRun]) -> str | None:
        """The run's final status, or None when this process stopped driving it unfinished."""
        run_id = run.id
        try:
            plan = await self.plan(run.workflow_id, run.version, run.step_overrides)
            status = await RunDriver(self, run, rows, plan).drive()
            if status is not None:
                self.waiters.answer(run_id, status)
            return status
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("run_driver_crashed", run_id=str(run_id))
            await self.release(run_id)
            return None
        finally:
            self._drivers.pop(run_id, None)
            self._poked.discard(run_id)
            self.limits.forget(run_id)
            if self.limits.run_finished():
                self._wake.set()  # a run slot freed: a capped queued run may start
            ACTIVE_RUNS.set(len(self._drivers))

    async def wait_for(self, run_id: uuid.UUID, timeout: float = 60.0) -> str:
        """Wait until the run finishes (tests, CLI, sync webhooks); returns its status."""
        return await self.waiters.wait(run_id, timeout)


def _rowcount(result: Any) -> int:
    return int(result.rowcount) if isinstance(result, CursorResult) else 0
