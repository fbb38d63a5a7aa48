"""The cron scheduler: a loop in every engine process that fires the cron triggers now due.

Any number of processes may run it against one database. Each scheduled time is claimed by
inserting its unique (trigger, scheduled time) firing row in the transaction that starts the
run, so however many schedulers see a time due, one commits the firing and its run and the
others fail to insert and move on: a time never fires twice, nor half (a firing without run).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from auterity.automatrix.triggers import cron
from auterity.automatrix.triggers.models import Trigger
from auterity.automatrix.triggers.service import cron_schedule, fire
from auterity.core.clock import utcnow
from auterity.core.database import Database
from auterity.core.logging import get_logger
from auterity.core.metrics import counter
from auterity.core.tenancy import bind_tenant

log = get_logger(__name__)
CRON_FIRINGS = counter("trigger_cron_firings", "Cron firings by outcome", ("outcome",))
DUE_BATCH = 100


class TriggerScheduler:
    def __init__(
        self,
        db: Database,
        *,
        wake: Callable[[uuid.UUID], None] | None = None,
        poll_interval: float = 1.0,
        misfire_grace: float = 60.0,
    ) -> None:
        self.db = db
        self.wake = wake
        self.poll_interval = poll_interval
        self.grace = timedelta(seconds=misfire_grace)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="trigger-scheduler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:  # keep scheduling through a transient database error
                log.exception("trigger_scheduler_failed")
            await asyncio.sleep(self.poll_interval)

    async def tick(self) -> list[uuid.UUID]:
        """Fire what is due now; answers the ids of the firings this process claimed."""
        now = utcnow()
        async with self.db.session(readonly=True) as session:
            due = list(
                (
                    await session.execute(
                        select(Trigger)
                        .where(
                            Trigger.kind == "cron",
                            Trigger.enabled.is_(True),
                            Trigger.next_fire_at <= now,
                        )
                        .order_by(Trigger.next_fire_at)
                        .limit(DUE_BATCH)
                    )
                ).scalars()
            )
        claimed: list[uuid.UUID] = []
        for trigger in due:
            assert trigger.next_fire_at is not None and trigger.misfire_policy is not None
            try:
                plan = cron.plan(
                    cron_schedule(trigger),
                    trigger.next_fire_at,
                    now,
                    self.grace,
                    trigger.misfire_policy,
                )
            except Exception:  # one broken schedule must not stop the others
                log.exception("cron_plan_failed", trigger_id=str(trigger.id))
                continue
            if plan.skipped:
                log.info("cron_misfire_skipped", trigger_id=str(trigger.id), count=plan.skipped)
                CRON_FIRINGS.labels("skipped").inc(plan.skipped)
            for scheduled_at in plan.fire:
                firing_id = await self._claim(trigger.tenant_id, trigger.id, scheduled_at)
                if firing_id is not None:
                    claimed.append(firing_id)
            await self._advance(trigger.id, trigger.next_fire_at, plan.next_fire_at)
        return claimed

    async def _claim(
        self, tenant_id: uuid.UUID, trigger_id: uuid.UUID, scheduled_at: datetime
    ) -> uuid.UUID | None:
        stamp = scheduled_at.isoformat()
        try:
            async with self.db.session() as session:
                bind_tenant(session, tenant_id)
                trigger = (
                    await session.execute(select(Trigger).where(Trigger.id == trigger_id))
                ).scalar_one_or_none()
                if trigger is None or not trigger.enabled:
                    return None  # deleted or paused since it was read
                firing, run = await fire(
                    session,
                    trigger,
                    {"scheduled_at": stamp},
                    scheduled_at=scheduled_at,
                    idempotency_key=f"cron:{trigger_id}:{stamp}",
                    source={"scheduled_at": stamp},
                )
        except IntegrityError:
            CRON_FIRINGS.labels("taken").inc()
            return None  # another scheduler fired this time
        CRON_FIRINGS.labels(firing.outcome).inc()
        if run is not None and self.wake is not None:
            self.wake(run.id)
        return firing.id

    async def _advance(
        self, trigger_id: uuid.UUID, seen: datetime, next_fire_at: datetime | None
    ) -> None:
        """Move the trigger on, unless another scheduler (or an edit) already moved it."""
        async with self.db.session() as session:
            await session.execute(
                update(Trigger)
                .where(Trigger.id == trigger_id, Trigger.next_fire_at == seen)
                .values(next_fire_at=next_fire_at)
            )
