"""The executor interface: the driver hands it one attempt of one step (or for_each item).

The driver keeps everything durable (claims, the ready set, persisting outcomes, numbering
events); an executor only decides where `run_attempt` happens and hands back its Outcome.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from auterity.automatrix.execution import Outcome

if TYPE_CHECKING:
    from auterity.automatrix.driver import RunDriver
    from auterity.automatrix.spec import StepSpec
    from auterity.automatrix.state import StepState


class Executor(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def attempt(
        self,
        driver: RunDriver,
        step: StepSpec,
        state: StepState,
        item: Any,
        index: int,
        secrets: dict[str, str],
    ) -> Outcome:
        """Run the attempt `state.attempt` of `step` (item `index` of a for_each, else -1).

        `secrets` are those the driver resolved; an executor running the attempt elsewhere
        must not send them there (the other side resolves its own)."""
        ...


@dataclass(frozen=True)
class StepTask:
    """An attempt by reference: what another process needs to load and run it. No secrets,
    no step outputs: the worker reads those from the database the driver has written."""

    run_id: uuid.UUID
    step_id: str
    attempt: int
    idempotency_key: str
    item_index: int = -1
    item: Any = None  # the for_each item; None when the worker must render it (secrets)
    item_sent: bool = False

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["run_id"] = str(self.run_id)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StepTask:
        return cls(**{**data, "run_id": uuid.UUID(data["run_id"])})


def outcome_to_json(outcome: Outcome) -> dict[str, Any]:
    data = asdict(outcome)
    if outcome.resume_at is not None:
        data["resume_at"] = outcome.resume_at.isoformat()
    return data


def outcome_from_json(data: dict[str, Any]) -> Outcome:
    resume_at = data.get("resume_at")
    return Outcome(
        **{**data, "resume_at": datetime.fromisoformat(resume_at) if resume_at else None}
    )
