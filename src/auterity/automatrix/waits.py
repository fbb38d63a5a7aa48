"""Durable waits of a run: timers and approvals that end on time or are decided from outside.

Only the driver holding the run's lease numbers its events, so a decision made through the
API (which only changes the step row) is announced here when the driver next looks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import CursorResult, insert, select, update

from auterity.automatrix.models import Run, RunEvent, StepRun
from auterity.core.artifacts import is_reference
from auterity.core.clock import utcnow
from auterity.core.ids import new_id

if TYPE_CHECKING:
    from auterity.automatrix.driver import RunDriver


def update_run_status(driver: RunDriver, launching: bool) -> None:
    """`waiting` while only durable waits remain (timers, approvals), else `running`."""
    idle = (
        not driver.tasks
        and not launching
        and any(s.status == "waiting" for s in driver.states.values())
    )
    desired = "waiting" if idle else "running"
    if desired == driver.run.status:
        return
    driver.run.status = desired
    driver.journal.run_updates.append({"id": driver.run_id, "status": desired})
    driver._event(f"run.{desired}", {})


async def refresh_waiting(driver: RunDriver) -> None:
    """Waiting steps can be settled from outside (an approval decided through the API,
    which only changes the step row): reload them, and announce what was decided here,
    so that only the driver holding the lease numbers the events of a live run."""
    waiting = {s.row_id: s for s in driver.states.values() if s.status == "waiting"}
    if not waiting:
        return
    async with driver.db.session(readonly=True) as session:
        rows = (
            await session.execute(
                select(StepRun.id, StepRun.status, StepRun.output, StepRun.error).where(
                    # Decided rows only: a wait this driver has not written yet is
                    # still `running` in its row.
                    StepRun.id.in_(list(waiting)),
                    StepRun.status.in_(("succeeded", "failed")),
                )
            )
        ).tuples()
        settled = list(rows)
    for row_id, status, output, error in settled:
        state = waiting[row_id]
        if is_reference(output):
            output = await driver.engine.artifacts.get_json(output)
        state.status, state.output, state.error, state.due_at = status, output, error, None
        driver._show(state)
        data: dict[str, Any] = {
            "step": state.step_id,
            "status": status,
            "attempt": state.attempt,
        }
        if isinstance(output, dict) and "decided_by" in output:
            data["decided_by"] = output["decided_by"]
        if error:
            data["error"] = error
        driver._event(f"step.{status}", data)


async def settle_due_waits(driver: RunDriver) -> None:
    """End the waits whose time has come (timers; approvals that timed out).

    Conditional on the row still waiting, in its own transaction with its event: an
    approval decided meanwhile wins, and is picked up by the next refresh."""
    now = utcnow()
    due = [
        s
        for s in driver.states.values()
        if s.status == "waiting" and s.due_at is not None and s.due_at <= now
    ]
    if not due:
        return
    await driver._flush()  # events already numbered go first
    for state in due:
        status = "failed" if state.error else "succeeded"
        values: dict[str, Any] = {"status": status, "finished_at": utcnow()}
        data: dict[str, Any] = {"step": state.step_id, "status": status}
        data["attempt"] = state.attempt
        if state.error:
            data["error"] = state.error
        async with driver.db.session() as session:
            result = await session.execute(
                update(StepRun)
                .where(StepRun.id == state.row_id, StepRun.status == "waiting")
                .values(**values)
            )
            if not isinstance(result, CursorResult) or result.rowcount != 1:
                continue  # decided from outside first: the next refresh announces it
            driver.seq += 1
            await session.execute(
                insert(RunEvent.__table__),  # type: ignore[arg-type]
                [
                    {
                        "id": new_id(),
                        "tenant_id": driver.run.tenant_id,
                        "run_id": driver.run_id,
                        "seq": driver.seq,
                        "type": f"step.{status}",
                        "data": data,
                        "created_at": utcnow(),
                    }
                ],
            )
            await session.execute(
                update(Run).where(Run.id == driver.run_id).values(event_seq=driver.seq)
            )
        state.status = status
        driver._show(state)
        driver.engine.hub.notify(driver.run_id)
    await refresh_waiting(driver)
