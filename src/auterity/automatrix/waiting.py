"""Waiting for runs to finish (`Engine.wait_for`): one shared answer per awaited run.

A run driven in this process is answered by its driver as it ends (`answer`); for runs other
processes drive, one query reads the status of every awaited run when a waiter arrives and
then every STATUS_POLL seconds, whoever and however many are waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid

from sqlalchemy import select

from auterity.automatrix.models import FINISHED_RUN, Run
from auterity.core.database import Database
from auterity.core.errors import NotFound
from auterity.core.logging import get_logger

log = get_logger(__name__)
STATUS_POLL = 0.5  # how often the status of runs driven elsewhere is read


class RunWaiters:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._waiters: dict[uuid.UUID, asyncio.Future[str]] = {}
        self._waiting: dict[uuid.UUID, int] = {}
        self._last_status: dict[uuid.UUID, str] = {}
        self._status_wanted = asyncio.Event()
        self._status_reader: asyncio.Task[None] | None = None

    async def wait(self, run_id: uuid.UUID, timeout: float) -> str:
        """Wait until the run finishes (tests, CLI, sync webhooks); returns its status.

        Waiters share their reads: a run driven here is answered by its driver as it ends,
        and one query reads the status of every awaited run when a waiter arrives and then
        every STATUS_POLL seconds (for runs another process drives).
        """
        future = self._waiters.get(run_id)
        if future is None:
            future = self._waiters[run_id] = asyncio.get_running_loop().create_future()
        self._waiting[run_id] = self._waiting.get(run_id, 0) + 1
        self._status_wanted.set()
        if self._status_reader is None or self._status_reader.done():
            self._status_reader = asyncio.create_task(self._read_statuses(), name="run-waits")
        try:
            # Shielded: one waiter timing out must not cancel the answer for the others.
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            status = self._last_status.get(run_id, "unfinished")
            raise TimeoutError(f"run {run_id} still {status} after {timeout}s") from None
        finally:
            self._waiting[run_id] -= 1
            if not self._waiting[run_id]:
                del self._waiting[run_id]
                self._waiters.pop(run_id, None)
                self._last_status.pop(run_id, None)

    def answer(self, run_id: uuid.UUID, status: str | BaseException) -> None:
        future = self._waiters.get(run_id)
        if future is None or future.done():
            return
        if isinstance(status, BaseException):
            future.set_exception(status)
        else:
            future.set_result(status)

    async def _read_statuses(self) -> None:
        while self._waiters:
            self._status_wanted.clear()
            unanswered = [run_id for run_id, f in self._waiters.items() if not f.done()]
            try:
                for start in range(0, len(unanswered), 500):
                    chunk = unanswered[start : start + 500]
                    async with self.db.session(readonly=True) as session:
                        found = dict(
                            (
                                await session.execute(
                                    select(Run.id, Run.status).where(Run.id.in_(chunk))
                                )
                            )
                            .tuples()
                            .all()
                        )
                    for run_id in chunk:
                        status = found.get(run_id)
                        if status is None:
                            self.answer(run_id, NotFound(f"Run {run_id} does not exist."))
                            continue
                        self._last_status[run_id] = status
                        if status in FINISHED_RUN:
                            self.answer(run_id, status)
            except Exception:  # keep answering through a transient database error
                log.exception("engine_status_read_failed")
            with contextlib.suppress(
                TimeoutError
            ):  # asyncio.timeout: wait_for can swallow a cancel
                async with asyncio.timeout(STATUS_POLL):
                    await self._status_wanted.wait()
