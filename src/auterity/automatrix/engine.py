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
from datetime import timedelta
from typing import Any

from sqlalchemy import CursorResult, or_, select, update

from auterity.automatrix.actions.registry import ActionRegistry
from auterity.automatrix.context import SecretLookup
from auterity.automatrix.driver import RunDriver
from auterity.automatrix.events import EventHub
from auterity.automatrix.models import FINISHED_RUN, Run
from auterity.core.clock import utcnow
from auterity.core.database import Database
from auterity.core.logging import get_logger
from auterity.core.metrics import gauge

log = get_logger(__name__)
ACTIVE_RUNS = gauge("workflow_runs_active", "Runs this process is driving")
CLAIM_BATCH = 100


class Engine:
    def __init__(
        self,
        db: Database,
        registry: ActionRegistry,
        *,
        secrets: SecretLookup | None = None,
        owner: str | None = None,
        lease_seconds: float = 30.0,
        poll_interval: float = 1.0,
        max_concurrent_steps: int = 500,
    ) -> None:
        self.db = db
        self.registry = registry
        self.secrets = secrets
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.lease = timedelta(seconds=lease_seconds)
        self.poll_interval = poll_interval
        self.step_slots = asyncio.Semaphore(max_concurrent_steps)
        self.hub = EventHub()
        self._drivers: dict[uuid.UUID, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self._poked: set[uuid.UUID] = set()
        self._scheduler: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._scheduler is None:
            self._scheduler = asyncio.create_task(self._schedule_loop(), name="engine-scheduler")

    async def stop(self) -> None:
        """Stop driving; leases are released so another process resumes the runs at once."""
        tasks = [t for t in (self._scheduler, *self._drivers.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._scheduler = None
        if self._drivers:
            async with self.db.session() as session:
                await session.execute(
                    update(Run)
                    .where(Run.id.in_(list(self._drivers)), Run.lease_owner == self.owner)
                    .values(lease_owner=None, lease_expires_at=None)
                )
        self._drivers.clear()

    def wake(self, run_id: uuid.UUID | None = None) -> None:
        """Look for work now (a run was started, resumed or cancelled)."""
        self._wake.set()
        if run_id is not None:
            if run_id in self._drivers:
                self._poked.add(run_id)  # its driver re-reads the run (cancel) on its next turn
            self.hub.notify(run_id)

    def take_poke(self, run_id: uuid.UUID) -> bool:
        """Whether `wake(run_id)` was called since the last time its driver asked."""
        if run_id in self._poked:
            self._poked.discard(run_id)
            return True
        return False

    async def _schedule_loop(self) -> None:
        while True:
            backlog = False
            try:
                claimed = await self.claim_runs(CLAIM_BATCH)
                # A full batch means more runs may be queued: claim again at once instead of
                # leaving them for the next poll (a burst of runs would go at 100 per second).
                backlog = len(claimed) == CLAIM_BATCH
            except Exception:  # keep scheduling through a transient database error
                log.exception("engine_claim_failed")
            if backlog:
                await asyncio.sleep(0)  # let the drivers just started take their first turn
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)
            self._wake.clear()

    async def claim_runs(self, limit: int = CLAIM_BATCH) -> list[uuid.UUID]:
        now = utcnow()
        async with self.db.session(readonly=True) as session:
            candidates = (
                (
                    await session.execute(
                        select(Run.id)
                        .where(
                            Run.status.not_in(FINISHED_RUN),
                            or_(Run.lease_owner.is_(None), Run.lease_expires_at < now),
                        )
                        .order_by(Run.created_at)
                        .limit(limit)
                    )
                )
                .scalars()
                .all()
            )
        wanted = [run_id for run_id in candidates if run_id not in self._drivers]
        claimed = await self._claim_many(wanted) if wanted else []
        for run_id in claimed:
            task = asyncio.create_task(self._drive(run_id), name=f"run-{run_id}")
            self._drivers[run_id] = task
        ACTIVE_RUNS.set(len(self._drivers))
        return claimed

    async def _claim_many(self, run_ids: list[uuid.UUID]) -> list[uuid.UUID]:
        """`claim` for a batch in one statement; answers the runs taken, in the given order."""
        now = utcnow()
        async with self.db.session() as session:
            taken = set(
                (
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
                        .returning(Run.id)
                        .execution_options(synchronize_session=False)
                    )
                ).scalars()
            )
        return [run_id for run_id in run_ids if run_id in taken]

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

    async def _drive(self, run_id: uuid.UUID) -> None:
        try:
            await RunDriver(self, run_id).drive()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("run_driver_crashed", run_id=str(run_id))
            await self.release(run_id)
        finally:
            self._drivers.pop(run_id, None)
            self._poked.discard(run_id)
            ACTIVE_RUNS.set(len(self._drivers))

    async def wait_for(self, run_id: uuid.UUID, timeout: float = 60.0) -> str:
        """Wait until the run finishes (tests, CLI, sync webhooks); returns its status."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            async with self.db.session(readonly=True) as session:
                status = (
                    await session.execute(select(Run.status).where(Run.id == run_id))
                ).scalar_one()
            if status in FINISHED_RUN:
                return str(status)
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"run {run_id} still {status} after {timeout}s")
            driver = self._drivers.get(run_id)
            if driver is not None:
                # Driven here: its task ends when the run does (or the lease is lost), so wait
                # for that instead of reading the status back after every step transition.
                await asyncio.wait({driver}, timeout=remaining)
            else:
                await self.hub.wait(run_id, min(0.5, remaining))


def _rowcount(result: Any) -> int:
    return int(result.rowcount) if isinstance(result, CursorResult) else 0
