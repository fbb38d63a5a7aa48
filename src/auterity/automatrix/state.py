"""What a driver holds in memory about a run: its parsed plan and each step's state."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from auterity.automatrix.graph import StepGraph
from auterity.automatrix.spec import WorkflowSpec


@dataclass
class StepState:
    row_id: uuid.UUID
    step_id: str
    status: str
    attempt: int
    output: Any
    error: dict[str, Any] | None
    due_at: datetime | None
    idempotency_key: str


@dataclass(frozen=True)
class Plan:
    """A workflow version parsed once: versions never change, so every run shares it."""

    spec: WorkflowSpec
    graph: StepGraph
