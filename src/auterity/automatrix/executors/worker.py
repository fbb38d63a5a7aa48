"""What an `auterity worker` process runs: the step task, on one event loop per process.

Celery calls tasks synchronously (from its pool's threads or processes); each process keeps
one asyncio loop in a thread, with its database pool, secret store and HTTP client, and
every task of that process runs its attempt there.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from celery import Celery
from redis.asyncio import Redis
from redis.exceptions import RedisError

from auterity.automatrix.execution import Outcome
from auterity.automatrix.executors.attempts import run_task
from auterity.automatrix.executors.base import StepTask, outcome_to_json
from auterity.automatrix.executors.celery_app import STEP_TASK
from auterity.core.logging import get_logger

if TYPE_CHECKING:
    from auterity.automatrix.engine import Engine

log = get_logger(__name__)
REPLY_TTL = 3600  # an engine that died never reads its replies; they expire


class WorkerHost:
    """The per-process side of a worker; `build` makes the engine whose parts attempts use
    (database, registry, secrets, HTTP client, artifact store, sub-workflow calls); it is
    not started, so it claims no runs."""

    def __init__(self, build: Callable[[], Engine], redis_url: str) -> None:
        self.build = build
        self.redis_url = redis_url
        self._pid: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._engine: Engine | None = None
        self._redis: Redis | None = None
        self._lock = threading.Lock()

    def _loop_here(self) -> asyncio.AbstractEventLoop:
        # Per process: a prefork child must not use the loop (or connections) of its parent.
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                self._pid, self._engine, self._redis = os.getpid(), None, None
                self._loop = asyncio.new_event_loop()
                threading.Thread(target=self._loop.run_forever, daemon=True).start()
            return self._loop

    def run(self, payload: dict[str, Any], reply_to: str, reply_id: str) -> None:
        """Run one attempt and push its outcome to the engine awaiting it (Celery's thread)."""
        loop = self._loop_here()
        asyncio.run_coroutine_threadsafe(self._run(payload, reply_to, reply_id), loop).result()

    async def _run(self, payload: dict[str, Any], reply_to: str, reply_id: str) -> None:
        if self._engine is None:
            self._engine = self.build()
            self._redis = Redis.from_url(self.redis_url)
        assert self._redis is not None
        task = StepTask.from_json(payload)
        try:
            outcome = await run_task(self._engine, task)
        except Exception as exc:  # the database went away: fail the attempt, do not lose it
            log.exception("step_task_failed", run_id=str(task.run_id), step=task.step_id)
            outcome = Outcome(
                "failed",
                error={"kind": "worker_error", "message": f"{type(exc).__name__}: {exc}"},
                kind="worker_error",
            )
        if outcome is None:
            log.info("step_task_stale", run_id=str(task.run_id), step=task.step_id)
            return
        reply = json.dumps({"id": reply_id, "outcome": outcome_to_json(outcome)}, default=str)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.rpush(reply_to, reply)
            pipe.expire(reply_to, REPLY_TTL)
            await pipe.execute()


def register_step_task(app: Celery, host: WorkerHost) -> None:
    # A task that could not reply (Redis away) is tried again later: the attempt may then run
    # twice, with the same idempotency key.
    @app.task(  # type: ignore[untyped-decorator]  # celery is untyped
        name=STEP_TASK,
        acks_late=True,
        autoretry_for=(OSError, RedisError),
        retry_backoff=True,
        retry_backoff_max=30,
        max_retries=10,
    )
    def step(payload: dict[str, Any], reply_to: str, reply_id: str) -> None:
        host.run(payload, reply_to, reply_id)
