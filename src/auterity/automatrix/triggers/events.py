"""Event triggers: the bus subscriber (named `triggers`) that fires the triggers waiting for a
platform event.

Publishers call `EventBus.publish(tenant_id, type, data)` (see `auterity.events`): the engine
records `run.succeeded`, `run.failed` and `run.cancelled` with a run's end (data: `run_id`,
`workflow_id`, `status`, `outputs`, `error`), `POST /api/events` publishes custom events, and
RelayCore and NeuroWeaver are to publish theirs the same way. A trigger fires when its `event`
equals the type and its filter, a sandboxed expression over `event` (`id`, `type`, `data`,
`at`), is true. A workflow's own `run.*` events never fire its triggers, so a trigger cannot
restart its workflow forever. Delivery is at least once: a redelivered event starts no second
run (the run's idempotency key is the trigger's and the event's id; the firing is recorded as
a `duplicate`), and an error raised here has the event delivered again later.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from sqlalchemy import select

from auterity.automatrix.expressions import ExpressionError, truthy
from auterity.automatrix.triggers.models import Trigger
from auterity.automatrix.triggers.service import fire
from auterity.core.database import Database
from auterity.core.logging import get_logger
from auterity.core.tenancy import bind_tenant
from auterity.events import PlatformEvent

log = get_logger(__name__)


class EventTriggers:
    def __init__(self, db: Database, wake: Callable[[uuid.UUID], None] | None = None) -> None:
        self.db = db
        self.wake = wake

    async def __call__(self, event: PlatformEvent) -> None:
        async with self.db.session(readonly=True) as session:
            bind_tenant(session, event.tenant_id)
            waiting = list(
                (
                    await session.execute(
                        select(Trigger.id, Trigger.workflow_id)
                        .where(
                            Trigger.kind == "event",
                            Trigger.enabled.is_(True),
                            Trigger.event_type == event.type,
                        )
                        .order_by(Trigger.id)  # in creation order
                    )
                ).tuples()
            )
        own_workflow = str(event.data.get("workflow_id")) if event.type.startswith("run.") else None
        for trigger_id, workflow_id in waiting:
            if own_workflow == str(workflow_id):
                continue
            await self._fire(event, trigger_id)

    async def _fire(self, event: PlatformEvent, trigger_id: uuid.UUID) -> None:
        context = {"event": event.as_dict()}
        source = {"event_id": str(event.id), "type": event.type}
        async with self.db.session() as session:
            bind_tenant(session, event.tenant_id)
            trigger = (
                await session.execute(select(Trigger).where(Trigger.id == trigger_id))
            ).scalar_one_or_none()
            if trigger is None or not trigger.enabled:
                return
            if trigger.filter:
                try:
                    if not truthy(trigger.filter, context):
                        return
                except ExpressionError as exc:
                    # Recorded, so the trigger's owner sees why it did not fire.
                    await fire(
                        session,
                        trigger,
                        context,
                        source=source,
                        failure={"kind": "filter", "message": f"filter: {exc}"},
                    )
                    return
            _, run = await fire(
                session,
                trigger,
                context,
                default_inputs=event.data,
                idempotency_key=f"event:{trigger.id}:{event.id}",
                source=source,
            )
        if run is not None and self.wake is not None:
            self.wake(run.id)
