"""Drives one run: computes the ready set, starts steps, persists every transition."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from auterity.automatrix.actions.base import ActionContext, ActionError
from auterity.automatrix.context import expression_context, resolve_secrets
from auterity.automatrix.execution import Outcome, retry_delay, secret_names, should_retry
from auterity.automatrix.expressions import ExpressionError, render_value
from auterity.automatrix.models import FINISHED_STEP, Run, StepRun
from auterity.automatrix.outputs import resolve_references, stored_output
from auterity.automatrix.readiness import effective_dependencies, skip_reason, terminal_failure
from auterity.automatrix.spec import StepSpec
from auterity.automatrix.state import Plan, StepState
from auterity.automatrix.waits import refresh_waiting, settle_due_waits, update_run_status
from auterity.automatrix.writer import Changes
from auterity.core.clock import utcnow
from auterity.core.ids import new_id
from auterity.core.logging import get_logger
from auterity.core.metrics import counter, histogram

if TYPE_CHECKING:
    from auterity.automatrix.engine import Engine

log = get_logger(__name__)
WORKFLOW_COMPLETION = counter("workflow_completion", "Finished workflow runs", ("status",))
STEP_DURATION = histogram(
    "workflow_step_duration_seconds", "Step attempt duration", ("action", "status")
)
# A cancel asked for in this process pokes the driver at once (Engine.wake); the engine looks
# for those asked for by another process this often.
CANCEL_POLL = 0.5
ERROR_RECOVERY = counter(
    "error_recovery_success", "Steps that succeeded after a retry or a fallback", ()
)


class RunDriver:
    def __init__(self, engine: Engine, run: Run, rows: list[StepRun], plan: Plan) -> None:
        """`run` was just claimed by `engine`; `rows` are its step rows as stored."""
        self.engine = engine
        self.db = engine.db
        self.run = run
        self.run_id = run.id
        self.spec = plan.spec
        self.graph = plan.graph
        self.states: dict[str, StepState] = {}
        self.visible: dict[str, dict[str, Any]] = {}  # `steps` in expressions
        self.tasks: dict[asyncio.Task[None], str] = {}
        self.running: set[str] = set()  # step ids with a task
        self.journal = Changes()  # what changed since the last flush
        self.seq = run.event_seq  # this driver numbers the run's events while it holds the lease
        self._cancel = run.cancel_requested
        self._cancel_read_at = 0.0
        self.final_status: str | None = None
        self._prepare(rows)

    # -- loading ------------------------------------------------------------------------------

    def _prepare(self, rows: list[StepRun]) -> None:
        """States from the stored rows; missing rows and the run's start go in the journal."""
        run = self.run
        stored = {r.step_id: r for r in rows}
        for step in self.spec.steps:
            row = stored.get(step.id)
            if row is None:
                key = f"{run.id}:{step.id}"
                row_id = new_id()
                self.journal.step_inserts.append(
                    {
                        "id": row_id,
                        "tenant_id": run.tenant_id,
                        "run_id": run.id,
                        "step_id": step.id,
                        "item_index": -1,
                        "status": "pending",
                        "attempt": 0,
                        "logs": [],
                        "idempotency_key": key,
                    }
                )
                self.states[step.id] = StepState(
                    row_id, step.id, "pending", 0, None, None, None, key
                )
                continue
            status = row.status
            if status == "running":
                # Its process died mid-step: run it again, with the same idempotency key.
                status = "pending"
                self.journal.step_updates.append({"id": row.id, "status": status})
            self.states[step.id] = StepState(
                row.id,
                row.step_id,
                status,
                row.attempt,
                row.output,
                row.error,
                row.due_at,
                row.idempotency_key,
            )
        for state in self.states.values():
            self._show(state)
        if run.status == "queued":
            run.status, run.started_at = "running", utcnow()
            values: dict[str, Any] = {"status": "running", "started_at": run.started_at}
            if self.spec.timeout:
                run.deadline_at = values["deadline_at"] = run.started_at + timedelta(
                    seconds=self.spec.timeout
                )
            self.journal.run_updates.append({"id": run.id, **values})
            self._event("run.started", {"version": run.version})

    # -- the loop -----------------------------------------------------------------------------

    async def drive(self) -> str | None:
        """Drive the run to its end; answers its final status, or None if the lease was lost."""
        await resolve_references(self.engine, self.states.values(), self._show)
        self.engine.hub.notify(self.run_id)
        renew_every = self.engine.lease.total_seconds() / 3
        next_renewal = asyncio.get_running_loop().time() + renew_every
        released = False  # steps ended since the last flush (their slots free once written)
        try:
            while True:
                if await self._stop_requested():
                    return self.final_status
                await self._refresh_waiting()
                await self._settle_due_waits()
                failure = terminal_failure(self.spec, self.states)
                if failure and not self.tasks:
                    await self._finish("failed", error=failure)
                    return self.final_status
                launches = [] if failure else await self._start_ready_steps()
                if not failure:
                    self._update_run_status(bool(launches))
                if not self.tasks and all(s.status in FINISHED_STEP for s in self.states.values()):
                    await self._complete()
                    return self.final_status
                # This turn's transitions in one transaction: the outcomes of the steps that
                # just ended and the start of the steps they unblocked, written before any of
                # those steps runs.
                await self._flush()
                if released:
                    self.engine.limits.steps_released(self.engine.hub)
                    released = False
                for step, state in launches:
                    self.tasks[asyncio.create_task(self._run_step(step, state))] = step.id
                    self.running.add(step.id)
                wait = self._next_wakeup()
                loop = asyncio.get_running_loop()
                wait = min(wait, max(0.0, next_renewal - loop.time()))
                if self.tasks:
                    done, _ = await asyncio.wait(
                        self.tasks, timeout=wait, return_when=asyncio.FIRST_COMPLETED
                    )
                    for task in done:
                        self.running.discard(self.tasks.pop(task))
                        task.result()
                        released = True
                else:
                    await self.engine.hub.wait(self.run_id, wait)
                if loop.time() >= next_renewal:
                    if not await self.engine.renew(self.run_id):
                        log.warning("run_lease_lost", run_id=str(self.run_id))
                        return self.final_status
                    next_renewal = loop.time() + renew_every
        finally:
            for task in self.tasks:
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)

    def _next_wakeup(self) -> float:
        now = utcnow()
        waits = [1.0]  # poll for cancellation at least once a second
        for state in self.states.values():
            if state.status in ("pending", "waiting") and state.due_at is not None:
                waits.append((state.due_at - now).total_seconds())
        if self.run.deadline_at is not None:
            waits.append((self.run.deadline_at - now).total_seconds())
        return max(0.0, min(waits))

    async def _cancel_requested(self) -> bool:
        """Whether a cancel was asked for; read when the engine pokes this run (a cancel in
        this process, or one its watcher saw, within CANCEL_POLL seconds, from another)."""
        poked = self.engine.take_poke(self.run_id)
        now = asyncio.get_running_loop().time()
        if not self.engine.watching_cancels and now - self._cancel_read_at >= CANCEL_POLL:
            poked = True  # driven without the engine's watcher (the CLI): read it ourselves
        if poked:
            self._cancel_read_at = now
            async with self.db.session(readonly=True) as session:
                self._cancel = bool(
                    (
                        await session.execute(
                            select(Run.cancel_requested).where(Run.id == self.run_id)
                        )
                    ).scalar_one()
                )
        return self._cancel

    async def _stop_requested(self) -> bool:
        if await self._cancel_requested():
            await self._finish(
                "cancelled", error={"kind": "cancelled", "message": "Cancelled on request."}
            )
            return True
        if self.run.deadline_at is not None and utcnow() >= self.run.deadline_at:
            await self._finish(
                "failed",
                error={
                    "kind": "timeout",
                    "message": f"The run exceeded its timeout of {self.spec.timeout:g}s.",
                },
            )
            return True
        return False

    # -- readiness ----------------------------------------------------------------------------

    async def _start_ready_steps(self) -> list[tuple[StepSpec, StepState]]:
        """Mark the ready steps that the tenant and platform caps admit as running, and
        answer them (the caller starts them once the journal is written)."""
        ready = self._ready_steps()
        if self.run.parent_run_id is None:  # a sub-workflow runs within its caller's slots
            ready = await self.engine.limits.admit_steps(
                self.run.tenant_id, self.run_id, ready, _row_id, self._flush
            )
        for _, state in ready:
            self._transition(state, "running", attempt=state.attempt + 1, event="step.started")
        return ready

    def _ready_steps(self) -> list[tuple[StepSpec, StepState]]:
        """Settle due timers and skips; answer the steps that can start now, within the
        workflow's concurrency."""
        now = utcnow()
        running = len(self.running)
        launches: list[tuple[StepSpec, StepState]] = []
        for step in self.spec.steps:
            state = self.states[step.id]
            if state.status != "pending" or (state.due_at is not None and state.due_at > now):
                continue
            if step.id in self.running:
                continue
            deps = effective_dependencies(self.graph, step.id)
            if any(self.states[d].status not in FINISHED_STEP for d in deps):
                continue
            verdict = skip_reason(self.graph, self.states, step, deps, self._context)
            if verdict is not None:
                self._transition(
                    state,
                    "skipped",
                    error={"kind": "skipped", "message": verdict},
                    event="step.skipped",
                )
                continue
            if self.spec.concurrency is not None and running >= self.spec.concurrency:
                break
            launches.append((step, state))
            running += 1
        return launches

    # -- running a step -----------------------------------------------------------------------

    def _show(self, state: StepState) -> None:
        """Keep `steps.<id>` of the expression context in step with `state`.

        Kept up to date as states change, not rebuilt for every step and item: rebuilding it
        made a run of n steps cost n^2."""
        if state.status in FINISHED_STEP or state.status == "waiting":
            self.visible[state.step_id] = {
                "output": state.output,
                "status": state.status,
                "error": state.error,
            }
        else:
            self.visible.pop(state.step_id, None)

    def _context(self, item: Any = None, secrets: dict[str, str] | None = None) -> dict[str, Any]:
        run = {"id": str(self.run.id), "started_at": str(self.run.started_at), "attempt": 1}
        return expression_context(self.run.inputs, self.visible, run, item, secrets)

    async def _run_step(self, step: StepSpec, state: StepState) -> None:
        async with self.engine.step_slots:
            names = secret_names(step)
            started = asyncio.get_running_loop().time()
            try:
                secrets = await resolve_secrets(names, self.run.tenant_id, self.engine.secrets)
                if step.for_each is not None:
                    outcome = await self._run_items(step, state, secrets)
                else:
                    outcome = await self.engine.executor.attempt(
                        self, step, state, None, -1, secrets
                    )
            except ActionError as exc:
                outcome = Outcome("failed", error=exc.as_dict(), kind=exc.kind)
            STEP_DURATION.labels(step.uses, outcome.status).observe(
                asyncio.get_running_loop().time() - started
            )
        await self._settle(step, state, outcome)

    def _action_context(
        self, step: StepSpec, state: StepState, item: Any, index: int
    ) -> ActionContext:
        key = state.idempotency_key if index < 0 else f"{state.idempotency_key}:{index}"
        return self.engine.action_context(self.run, step.id, state.attempt, key, item)

    async def _run_items(
        self, step: StepSpec, state: StepState, secrets: dict[str, str]
    ) -> Outcome:
        try:
            items = render_value(step.for_each, self._context(None, secrets))
        except ExpressionError as exc:
            return Outcome("failed", error={"kind": "client_error", "message": f"for_each: {exc}"})
        if not isinstance(items, list):
            return Outcome(
                "failed",
                error={
                    "kind": "client_error",
                    "message": f"for_each must give a list, got {type(items).__name__}",
                },
            )
        from auterity.automatrix.items import run_items

        return await run_items(self, step, state, items, secrets)

    async def _settle(self, step: StepSpec, state: StepState, outcome: Outcome) -> None:
        if outcome.status == "succeeded":
            if state.attempt > 1:
                ERROR_RECOVERY.inc()
            self._transition(
                state,
                "succeeded",
                output=outcome.output,
                stored_output=await stored_output(self.engine, self.run.tenant_id, outcome.output),
                error=None,
                params=outcome.params,
                logs=outcome.logs,
                event="step.succeeded",
            )
        elif outcome.status == "waiting":
            self._transition(
                state,
                "waiting",
                output=outcome.output,
                stored_output=await stored_output(self.engine, self.run.tenant_id, outcome.output),
                error=outcome.timeout_error,
                due_at=outcome.resume_at,
                params=outcome.params,
                logs=outcome.logs,
                event="step.waiting",
            )
        elif should_retry(step.retry, state.attempt, outcome.kind):
            due = utcnow() + retry_delay(step.retry, state.attempt, error=outcome.error)
            self._transition(
                state,
                "pending",
                error=outcome.error,
                due_at=due,
                params=outcome.params,
                logs=outcome.logs,
                event="step.retrying",
            )
        else:
            self._transition(
                state,
                "failed",
                error=outcome.error,
                params=outcome.params,
                logs=outcome.logs,
                event="step.failed",
            )

    # -- persistence --------------------------------------------------------------------------

    def _transition(self, state: StepState, status: str, *, event: str, **fields: Any) -> None:
        """Change a step's state now; its row and event are written by the next flush.

        `stored_output` is the output as the row keeps it (a reference when it is large)."""
        now = utcnow()
        values: dict[str, Any] = {"status": status}
        for name in ("output", "error", "due_at", "attempt", "logs"):
            if name in fields:
                values[name] = fields[name]
        if "stored_output" in fields:
            values["output"] = fields["stored_output"]
        if "params" in fields:
            values["input"] = fields["params"]
        if status == "running":
            values.update(started_at=now, due_at=None)
        if status in FINISHED_STEP:
            values["finished_at"] = now
        data: dict[str, Any] = {
            "step": state.step_id,
            "status": status,
            "attempt": values.get("attempt", state.attempt),
        }
        if fields.get("error"):
            data["error"] = fields["error"]
        if status == "pending" and fields.get("due_at"):
            data["retry_at"] = fields["due_at"].isoformat()
        self.journal.step_updates.append({"id": state.row_id, **values})
        self._event(event, data)
        state.status = status
        for name in ("output", "error", "due_at", "attempt"):
            if name in values:
                setattr(state, name, fields[name] if name in fields else values[name])
        self._show(state)

    def _update_run_status(self, launching: bool) -> None:
        update_run_status(self, launching)

    async def _refresh_waiting(self) -> None:
        await refresh_waiting(self)

    async def _settle_due_waits(self) -> None:
        await settle_due_waits(self)

    def _event(self, type_: str, data: dict[str, Any]) -> None:
        self.seq += 1
        self.journal.events.append(
            {
                "id": new_id(),
                "tenant_id": self.run.tenant_id,
                "run_id": self.run_id,
                "seq": self.seq,
                "type": type_,
                "data": data,
                "created_at": utcnow(),
            }
        )

    def _take_journal(self) -> Changes:
        changes, self.journal = self.journal, Changes()
        if changes.events:
            changes.run_updates.append({"id": self.run_id, "event_seq": self.seq})
        return changes

    async def _flush(self) -> None:
        """Write the journal; the engine's writer may commit it with other runs' changes."""
        if not self.journal:
            return
        await self.engine.writer.write(self._take_journal())
        self.engine.hub.notify(self.run_id)

    async def _complete(self) -> None:
        try:
            outputs = render_value(self.spec.outputs, self._context())
        except ExpressionError as exc:
            await self._finish("failed", error={"kind": "outputs", "message": f"outputs: {exc}"})
            return
        await self._finish("succeeded", outputs=outputs)

    async def _finish(
        self, status: str, *, outputs: Any = None, error: dict[str, Any] | None = None
    ) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks.clear()
        self.running.clear()
        now = utcnow()
        self._event(f"run.{status}", {"error": error} if error else {"outputs": outputs})
        changes = self._take_journal()
        for state in self.states.values():
            if state.status not in FINISHED_STEP:
                changes.step_updates.append(
                    {"id": state.row_id, "status": "cancelled", "finished_at": now}
                )
                state.status = "cancelled"
                self._show(state)
        changes.run_updates.append(
            {
                "id": self.run_id,
                "status": status,
                "outputs": outputs,
                "error": error,
                "finished_at": now,
                "lease_owner": None,
                "lease_expires_at": None,
            }
        )
        ended = self.engine.end_event(self.run, status, outputs, error)
        if ended is not None:
            changes.outbox.append(ended)
        await self.engine.writer.write(changes)
        self.final_status = status
        WORKFLOW_COMPLETION.labels(status).inc()
        self.engine.hub.notify(self.run_id)
        if ended is not None:
            self.engine.events_committed()


def _row_id(launch: tuple[StepSpec, StepState]) -> uuid.UUID:
    return launch[1].row_id
