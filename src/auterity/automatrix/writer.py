"""Group commit: the state changes of every run this process drives, written in few transactions.

A driver hands over what changed (step rows, run fields, run events, platform events for the
outbox) and waits for the commit
that carries it. Changes that arrive while a transaction is being written go into the next
one, so a lone run waits for nobody, and under load one transaction (and one statement per
table) carries the steps of many runs: on SQLite, where writers queue for one lock, that is
the difference between tens and hundreds of runs a second. If a merged batch fails, each
part is written again on its own, so only the part at fault fails.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, bindparam, insert, update
from sqlalchemy.ext.asyncio import AsyncSession

from auterity.automatrix.models import Run, RunEvent, StepRun
from auterity.core.database import Database
from auterity.events import PlatformEvent, record_many


@dataclass
class Changes:
    """Rows to write, each a dict of column values; updates carry the row's `id`."""

    step_inserts: list[dict[str, Any]] = field(default_factory=list)
    step_updates: list[dict[str, Any]] = field(default_factory=list)
    run_updates: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    # Platform events (a run's end): committed with the change they tell of.
    outbox: list[PlatformEvent] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(
            self.step_inserts or self.step_updates or self.run_updates or self.events or self.outbox
        )

    def extend(self, other: Changes) -> None:
        self.step_inserts += other.step_inserts
        self.step_updates += other.step_updates
        self.run_updates += other.run_updates
        self.events += other.events
        self.outbox += other.outbox


class Writer:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._queue: list[tuple[Changes, asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None

    async def write(self, changes: Changes) -> None:
        """Return once `changes` are committed; raise what writing them raised."""
        if not changes:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((changes, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain(), name="automatrix-writer")
        await future

    async def close(self) -> None:
        """Wait for what is being written (engine shutdown)."""
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    async def _drain(self) -> None:
        while self._queue:
            # A caller cancelled while queued (its driver was stopped) no longer wants it.
            batch = [(c, f) for c, f in self._queue if not f.done()]
            self._queue = []
            if not batch:
                continue
            merged = Changes()
            for changes, _ in batch:
                merged.extend(changes)
            try:
                async with self.db.session() as session:
                    await _apply(session, merged)
            except Exception as exc:
                if len(batch) == 1:
                    _settle(batch[0][1], exc)
                    continue
                for changes, future in batch:
                    try:
                        async with self.db.session() as session:
                            await _apply(session, changes)
                    except Exception as part_exc:
                        _settle(future, part_exc)
                    else:
                        _settle(future, None)
                continue
            for _, future in batch:
                _settle(future, None)


def _settle(future: asyncio.Future[None], exc: BaseException | None) -> None:
    if future.done():
        return
    if exc is None:
        future.set_result(None)
    else:
        future.set_exception(exc)


async def _apply(session: AsyncSession, changes: Changes) -> None:
    """One executemany per table and set of columns, whatever the number of runs.

    Core statements, not the ORM's bulk paths: the rows are plain values already, and the
    ORM's bookkeeping was most of the engine's time per step."""
    if changes.step_inserts:
        await session.execute(_STEP_INSERT, changes.step_inserts)
    for rows in _by_columns(changes.step_updates):
        await session.execute(_STEP_UPDATE, rows)
    for rows in _by_columns(changes.run_updates):
        await session.execute(_RUN_UPDATE, rows)
    if changes.events:
        await session.execute(_EVENT_INSERT, changes.events)
    await record_many(session, changes.outbox)


_steps: Table = StepRun.__table__  # type: ignore[assignment]
_runs: Table = Run.__table__  # type: ignore[assignment]
_events: Table = RunEvent.__table__  # type: ignore[assignment]
# Executed with many rows: the SET clause is made of the keys the rows carry.
_STEP_INSERT = insert(_steps)
_STEP_UPDATE = update(_steps).where(_steps.c.id == bindparam("row_id"))
_RUN_UPDATE = update(_runs).where(_runs.c.id == bindparam("row_id"))
_EVENT_INSERT = insert(_events)


def _by_columns(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Group rows by the columns they set (one executemany each), keyed by `row_id`.

    A row updated twice in one batch (a step started and finished) is merged into one
    update, later values winning, so one executemany never touches a row twice."""
    merged: dict[Any, dict[str, Any]] = {}
    for row in rows:
        values = merged.setdefault(row["id"], {"row_id": row["id"]})
        values.update((key, value) for key, value in row.items() if key != "id")
    groups: dict[frozenset[str], list[dict[str, Any]]] = {}
    for values in merged.values():
        groups.setdefault(frozenset(values), []).append(values)
    return list(groups.values())
