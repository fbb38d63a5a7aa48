"""The Celery executor, engine side: each attempt is a Celery task; its outcome comes back on
a Redis list owned by this engine, and the driver persists it as it would a local one.

A lost reply (this process died) costs nothing durable: the run's lease lapses and the next
driver runs the step again with the same idempotency key, as for a local step.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from auterity.automatrix.execution import Outcome
from auterity.automatrix.executors.base import StepTask, outcome_from_json
from auterity.automatrix.executors.celery_app import STEP_TASK, celery_app
from auterity.automatrix.executors.local import LocalExecutor
from auterity.automatrix.expressions import references
from auterity.core.logging import get_logger
from auterity.core.settings import Settings

if TYPE_CHECKING:
    from auterity.automatrix.driver import RunDriver
    from auterity.automatrix.spec import StepSpec
    from auterity.automatrix.state import StepState

log = get_logger(__name__)
REPLY_BATCH = 200


def reply_key(owner: str) -> str:
    return f"auterity:step-replies:{owner}"


class CeleryExecutor:
    def __init__(self, settings: Settings, owner: str) -> None:
        self.app = celery_app(settings)  # checks that a broker is configured
        self.redis_url = str(settings.redis_url)
        self.queue = settings.celery_queue
        self.replies = reply_key(owner)
        # A step may run this long (the broker's redelivery time) before it is sent again.
        self.resend_after = 2 * settings.celery_visibility_timeout
        self.local = LocalExecutor()
        self._pending: dict[str, asyncio.Future[Outcome]] = {}
        # kombu publishes synchronously: one thread keeps it off the event loop (and one
        # producer connection in use at a time).
        self._publisher: ThreadPoolExecutor | None = None
        self._redis: Redis | None = None
        self._listener: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._listener is None or self._listener.done():
            self._publisher = self._publisher or ThreadPoolExecutor(1, "celery-publish")
            self._redis = Redis.from_url(self.redis_url)
            self._listener = asyncio.create_task(self._listen(), name="celery-replies")

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
            self._listener = None
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None
        if self._publisher is not None:
            # Broker connections stay in kombu's pools, which are per process, not per app.
            self._publisher.shutdown()
            self._publisher = None

    async def attempt(
        self,
        driver: RunDriver,
        step: StepSpec,
        state: StepState,
        item: Any,
        index: int,
        secrets: dict[str, str],
    ) -> Outcome:
        action = driver.engine.registry.get(step.uses)
        if action is not None and action.in_engine:
            return await self.local.attempt(driver, step, state, item, index, secrets)
        await self.start()  # the CLI drives a run without starting the engine's loops
        # A for_each item goes with the task unless it may hold a secret; then the worker
        # renders the list itself.
        send_item = index >= 0 and not any(
            r.root == "secrets" for r in references(step.for_each or "")
        )
        key = state.idempotency_key if index < 0 else f"{state.idempotency_key}:{index}"
        task = StepTask(
            driver.run_id,
            step.id,
            state.attempt,
            key,
            index,
            item if send_item else None,
            send_item,
        )
        reply_id = uuid.uuid4().hex
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Outcome] = loop.create_future()
        self._pending[reply_id] = future
        try:
            await loop.run_in_executor(self._publisher, self._send, task, reply_id)
            while True:
                try:
                    # asyncio.timeout, not wait_for, which on 3.11 can swallow a cancellation.
                    async with asyncio.timeout(self.resend_after):
                        return await asyncio.shield(future)
                except TimeoutError:
                    # The broker gives a dead worker's task to another after the visibility
                    # timeout, unless the worker died between taking it from the queue and
                    # recording it as unacknowledged (kombu's Redis transport does both
                    # apart): then only sending it again saves the run.
                    log.warning("step_task_resent", run_id=str(task.run_id), step=task.step_id)
                    await loop.run_in_executor(self._publisher, self._send, task, reply_id)
        finally:
            self._pending.pop(reply_id, None)

    def _send(self, task: StepTask, reply_id: str) -> None:
        self.app.send_task(
            STEP_TASK,
            args=[task.to_json(), self.replies, reply_id],
            task_id=reply_id,
            queue=self.queue,
        )

    async def _listen(self) -> None:
        assert self._redis is not None
        redis = self._redis
        while True:
            try:
                first = await redis.blpop([self.replies], timeout=1)
                if first is None:
                    continue
                more = await redis.lpop(self.replies, REPLY_BATCH) or []
                for raw in [first[1], *more]:
                    self._answer(json.loads(raw))
            except RedisError:
                log.exception("celery_replies_failed")
                await asyncio.sleep(0.5)

    def _answer(self, reply: dict[str, Any]) -> None:
        future = self._pending.get(reply["id"])
        if future is not None and not future.done():
            future.set_result(outcome_from_json(reply["outcome"]))
