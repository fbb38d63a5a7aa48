"""The default executor: attempts run as asyncio tasks of the driving process."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from auterity.automatrix.execution import Outcome, run_attempt

if TYPE_CHECKING:
    from auterity.automatrix.driver import RunDriver
    from auterity.automatrix.spec import StepSpec
    from auterity.automatrix.state import StepState


class LocalExecutor:
    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def attempt(
        self,
        driver: RunDriver,
        step: StepSpec,
        state: StepState,
        item: Any,
        index: int,
        secrets: dict[str, str],
    ) -> Outcome:
        return await run_attempt(
            step,
            driver.engine.registry,
            driver._context(item, secrets),
            driver._action_context(step, state, item, index),
            secrets,
        )
