"""for_each: run a step once per item, at most `concurrency` at a time; outputs keep item order.

Each item is its own row (`item_index`), so after a crash the finished items are reused and
only the rest run again, each with its own stable idempotency key.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from auterity.automatrix.execution import Outcome, retry_delay, should_retry
from auterity.automatrix.models import StepRun
from auterity.automatrix.spec import StepSpec
from auterity.automatrix.writer import Changes
from auterity.core.clock import utcnow

if TYPE_CHECKING:
    from auterity.automatrix.driver import RunDriver
    from auterity.automatrix.state import StepState

DEFAULT_ITEM_CONCURRENCY = 10


async def run_items(
    driver: RunDriver, step: StepSpec, state: StepState, items: list[Any], secrets: dict[str, str]
) -> Outcome:
    rows = await _item_rows(driver, state, len(items))
    limit = asyncio.Semaphore(step.concurrency or DEFAULT_ITEM_CONCURRENCY)
    outputs: list[Any] = [None] * len(items)
    errors: list[tuple[int, dict[str, Any]]] = []

    async def one(index: int, item: Any) -> None:
        row = rows[index]
        if row["status"] == "succeeded":
            outputs[index] = row["output"]
            return
        async with limit:
            attempt = row["attempt"]
            while True:
                attempt += 1
                outcome = await driver.engine.executor.attempt(
                    driver, step, state, item, index, secrets
                )
                if outcome.status == "succeeded" or not should_retry(
                    step.retry, attempt, outcome.kind
                ):
                    break
                # Items retry in place; the step's own retries are durable due times.
                wait = retry_delay(step.retry, attempt, error=outcome.error)
                await asyncio.sleep(wait.total_seconds())
        status = "succeeded" if outcome.status == "succeeded" else "failed"
        # Through the engine's writer: items finishing together share one transaction.
        await driver.engine.writer.write(
            Changes(
                step_updates=[
                    {
                        "id": row["id"],
                        "status": status,
                        "attempt": attempt,
                        "output": outcome.output,
                        "error": outcome.error,
                        "input": outcome.params,
                        "logs": outcome.logs,
                        "finished_at": utcnow(),
                    }
                ]
            )
        )
        if status == "succeeded":
            outputs[index] = outcome.output
        else:
            errors.append((index, outcome.error or {}))

    await asyncio.gather(*(one(index, item) for index, item in enumerate(items)))
    if errors:
        index, error = sorted(errors, key=lambda e: e[0])[0]
        return Outcome(
            "failed",
            output=outputs,
            kind=error.get("kind"),
            error={
                "kind": error.get("kind", "action_error"),
                "message": f"{len(errors)} of {len(items)} item(s) failed; "
                f"first, item {index}: {error.get('message')}",
                "failed_items": sorted(i for i, _ in errors),
            },
        )
    return Outcome("succeeded", output=outputs)


async def _item_rows(driver: RunDriver, state: StepState, count: int) -> list[dict[str, Any]]:
    async with driver.db.session() as session:
        existing = {
            row.item_index: row
            for row in (
                await session.execute(
                    select(StepRun).where(
                        StepRun.run_id == driver.run_id,
                        StepRun.step_id == state.step_id,
                        StepRun.item_index >= 0,
                    )
                )
            ).scalars()
        }
        for index in range(count):
            if index not in existing:
                row = StepRun(
                    tenant_id=driver.run.tenant_id,
                    run_id=driver.run_id,
                    step_id=state.step_id,
                    item_index=index,
                    status="pending",
                    idempotency_key=f"{state.idempotency_key}:{index}",
                )
                session.add(row)
                existing[index] = row
        await session.flush()
        return [
            {
                "id": existing[i].id,
                "status": existing[i].status,
                "attempt": existing[i].attempt,
                "output": existing[i].output,
            }
            for i in range(count)
        ]
