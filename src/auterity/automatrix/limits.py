"""Tenant and platform-wide concurrency caps, counted in the database so they hold across
every engine that shares it.

A run holds a run slot from the moment an engine admits it (leases it while queued) until it
finishes; a step holds a step slot while its row is `running` (a for_each step is one step).
A sub-workflow runs within its caller's slots (the child run and its steps take none, and
are not counted): the caller waits for it, so making it wait for a slot could deadlock both.
Admission locks (PostgreSQL: a transaction-scoped advisory lock; SQLite: the write lock every
write transaction takes), counts, and records what it admits in the same transaction, so two
engines never both take the last slot. A capped run or step is not failed: it stays queued
(ready) and is admitted when a slot frees. Rows of a process that died keep their slots until
another engine resumes them. With no cap set, admission is one in-memory look-up.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import ColumnElement, and_, func, not_, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from auterity.automatrix.models import FINISHED_RUN, Run, StepRun
from auterity.core.cache import Cache
from auterity.core.clock import utcnow
from auterity.core.database import Database
from auterity.identity import tenant_settings

if TYPE_CHECKING:
    from auterity.automatrix.events import EventHub

CAPS_MEMO_SECONDS = 1.0  # tenant caps are re-read (from the settings cache) this often
T = TypeVar("T")


@dataclass(frozen=True)
class Caps:
    runs: int | None = None
    steps: int | None = None


TenantCaps = Callable[[uuid.UUID], Awaitable[Caps]]


@dataclass(frozen=True)
class Candidate:
    """A run the engine could claim, as the claim query read it."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    status: str
    parent_run_id: uuid.UUID | None


def tenant_caps_from_settings(db: Database, cache: Cache) -> TenantCaps:
    async def caps(tenant_id: uuid.UUID) -> Caps:
        policy = (await tenant_settings.load(db, cache, tenant_id)).engine
        return Caps(policy.max_concurrent_runs, policy.max_concurrent_steps)

    return caps


def _lock_key(name: str) -> int:
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), signed=True)


def active_runs(now: datetime) -> ColumnElement[bool]:
    """Runs holding a slot: started and unfinished, or queued and leased by a live engine."""
    return and_(
        Run.parent_run_id.is_(None),
        Run.status.not_in(FINISHED_RUN),
        or_(
            Run.status != "queued",
            and_(Run.lease_owner.is_not(None), Run.lease_expires_at >= now),
        ),
    )


class ConcurrencyLimits:
    def __init__(
        self,
        db: Database,
        *,
        max_runs: int | None = None,
        max_steps: int | None = None,
        tenant_caps: TenantCaps | None = None,
    ) -> None:
        self.db = db
        self.max_runs = max_runs
        self.max_steps = max_steps
        self._tenant_caps = tenant_caps
        self._memo: dict[uuid.UUID, tuple[float, Caps]] = {}
        self._loading: dict[uuid.UUID, asyncio.Future[Caps]] = {}
        # Known to be at their run cap, so the claim query skips their queued runs (one
        # tenant's backlog must not fill every claim batch); re-checked on each claim.
        self._full_tenants: set[uuid.UUID] = set()
        self._platform_full = False
        self._blocked_steps: set[uuid.UUID] = set()  # runs with a step waiting for a slot
        self.newly_full = False  # the last admission found a tenant (or all) newly full

    @classmethod
    def from_settings(cls, db: Database, cache: Cache) -> ConcurrencyLimits:
        settings = db.settings
        return cls(
            db,
            max_runs=settings.engine_max_concurrent_runs,
            max_steps=settings.engine_max_concurrent_steps,
            tenant_caps=tenant_caps_from_settings(db, cache),
        )

    async def caps(self, tenant_id: uuid.UUID) -> Caps:
        if self._tenant_caps is None:
            return Caps()
        memo = self._memo.get(tenant_id)
        if memo is not None and memo[0] > asyncio.get_running_loop().time():
            return memo[1]
        # Every driver of the tenant asks at once when the memo lapses: one reads for all.
        loading = self._loading.get(tenant_id)
        if loading is None:
            loading = asyncio.ensure_future(self._load_caps(tenant_id))
            self._loading[tenant_id] = loading
        return await asyncio.shield(loading)

    async def _load_caps(self, tenant_id: uuid.UUID) -> Caps:
        assert self._tenant_caps is not None
        try:
            caps = await self._tenant_caps(tenant_id)
        finally:
            self._loading.pop(tenant_id, None)
        if len(self._memo) > 10_000:
            self._memo.clear()
        self._memo[tenant_id] = (asyncio.get_running_loop().time() + CAPS_MEMO_SECONDS, caps)
        return caps

    async def _lock(self, session: AsyncSession, name: str) -> None:
        # SQLite: the write session already holds the database's one write lock.
        if not self.db.is_sqlite:
            await session.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _lock_key(name)}
            )

    # -- runs ---------------------------------------------------------------------------------

    async def claim_filters(self) -> list[ColumnElement[bool]]:
        """Conditions keeping queued runs that cannot be admitted now out of the claim query
        (runs already started are always claimable: they hold their slot)."""
        self.newly_full = False
        if not self._platform_full and not self._full_tenants:
            return []
        now = utcnow()
        counts: dict[uuid.UUID, int] = {}
        async with self.db.session(readonly=True) as session:
            if self._platform_full and self.max_runs is not None:
                total = await _count(session, Run, active_runs(now))
                self._platform_full = total >= self.max_runs
            if self._full_tenants:
                counts = await _count_by_tenant(session, Run, active_runs(now), self._full_tenants)
        for tenant_id in list(self._full_tenants):
            cap = (await self.caps(tenant_id)).runs
            if cap is None or counts.get(tenant_id, 0) < cap:
                self._full_tenants.discard(tenant_id)
        waits = and_(Run.status == "queued", Run.parent_run_id.is_(None))  # needs a slot
        if self._platform_full:
            return [not_(waits)]
        if self._full_tenants:
            return [not_(and_(waits, Run.tenant_id.in_(self._full_tenants)))]
        return []

    async def admit_runs(
        self, owner: str, lease: timedelta, candidates: Sequence[Candidate]
    ) -> list[uuid.UUID]:
        """The candidates this engine may claim, in order: every started run, and the queued
        runs that fit the caps, which are leased here (admitted) in the locked transaction."""
        queued = [c for c in candidates if c.status == "queued" and c.parent_run_id is None]
        capped: dict[uuid.UUID, int] = {}
        for tenant_id in {c.tenant_id for c in queued}:
            cap = (await self.caps(tenant_id)).runs
            if cap is not None:
                capped[tenant_id] = cap
        if not queued or (self.max_runs is None and not capped):
            return [c.id for c in candidates]
        admitting = [c for c in queued if self.max_runs is not None or c.tenant_id in capped]
        ids = [c.id for c in admitting]
        now = utcnow()
        async with self.db.session() as session:
            await self._lock(session, "auterity:runs")
            others = and_(active_runs(now), Run.id.not_in(ids))
            total = await _count(session, Run, others) if self.max_runs is not None else 0
            used = await _count_by_tenant(session, Run, others, set(capped))
            admitted: list[uuid.UUID] = []
            for candidate in admitting:
                tenant, cap = candidate.tenant_id, capped.get(candidate.tenant_id)
                if self.max_runs is not None and total >= self.max_runs:
                    self.newly_full |= not self._platform_full
                    self._platform_full = True
                elif cap is not None and used.get(tenant, 0) >= cap:
                    self.newly_full |= tenant not in self._full_tenants
                    self._full_tenants.add(tenant)
                else:
                    total += 1
                    used[tenant] = used.get(tenant, 0) + 1
                    admitted.append(candidate.id)
            taken: set[uuid.UUID] = set()
            if admitted:
                taken = set(
                    (
                        await session.execute(
                            update(Run)
                            .where(
                                Run.id.in_(admitted),
                                Run.status == "queued",
                                or_(
                                    Run.lease_owner.is_(None),
                                    Run.lease_expires_at < now,
                                    Run.lease_owner == owner,
                                ),
                            )
                            .values(lease_owner=owner, lease_expires_at=now + lease)
                            .returning(Run.id)
                            .execution_options(synchronize_session=False)
                        )
                    ).scalars()
                )
        passing = {c.id for c in admitting}
        return [c.id for c in candidates if c.id not in passing or c.id in taken]

    def run_finished(self) -> bool:
        """Whether a run ending here may let a waiting one in (the scheduler should look)."""
        return self._platform_full or bool(self._full_tenants)

    # -- steps --------------------------------------------------------------------------------

    async def admit_steps(
        self,
        tenant_id: uuid.UUID,
        run_id: uuid.UUID,
        ready: list[T],
        row_id: Callable[[T], uuid.UUID],
        flush: Callable[[], Awaitable[None]],
    ) -> list[T]:
        """The first of `ready` that fit the caps, their rows marked `running` in the locked
        transaction; the rest stay ready for a later turn. `flush` writes the run's pending
        changes first, so the rows exist and show what is really running."""
        if not ready:
            return ready
        caps = await self.caps(tenant_id)
        if self.max_steps is None and caps.steps is None:
            return ready
        await flush()
        ids = [row_id(item) for item in ready]
        lock = "auterity:steps" if self.max_steps is not None else f"auterity:steps:{tenant_id}"
        async with self.db.session() as session:
            await self._lock(session, lock)
            others = and_(
                StepRun.status == "running",
                StepRun.item_index == -1,
                StepRun.id.not_in(ids),
                Run.parent_run_id.is_(None),
            )
            counted = StepRun.__table__.join(Run.__table__, Run.id == StepRun.run_id)
            free = len(ready)
            if self.max_steps is not None:
                free = min(free, self.max_steps - await _count(session, counted, others))
            if caps.steps is not None:
                mine = and_(others, StepRun.tenant_id == tenant_id)
                free = min(free, caps.steps - await _count(session, counted, mine))
            free = max(0, free)
            if free:
                await session.execute(
                    update(StepRun)
                    .where(StepRun.id.in_(ids[:free]))
                    .values(status="running")
                    .execution_options(synchronize_session=False)
                )
        if free < len(ready):
            self._blocked_steps.add(run_id)
        else:
            self._blocked_steps.discard(run_id)
        return ready[:free]

    def steps_released(self, hub: EventHub) -> None:
        """Steps ended and were written: drivers here waiting for a slot look again now."""
        if self._blocked_steps:
            for run_id in list(self._blocked_steps):
                hub.notify(run_id)

    def forget(self, run_id: uuid.UUID) -> None:
        self._blocked_steps.discard(run_id)


async def _count(session: AsyncSession, table: Any, condition: ColumnElement[bool]) -> int:
    return int(
        (
            await session.execute(select(func.count()).select_from(table).where(condition))
        ).scalar_one()
    )


async def _count_by_tenant(
    session: AsyncSession, table: Any, condition: ColumnElement[bool], tenants: set[uuid.UUID]
) -> dict[uuid.UUID, int]:
    if not tenants:
        return {}
    rows = await session.execute(
        select(table.tenant_id, func.count())
        .where(condition, table.tenant_id.in_(tenants))
        .group_by(table.tenant_id)
    )
    return {tenant_id: int(count) for tenant_id, count in rows.tuples()}
