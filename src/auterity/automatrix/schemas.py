"""Request and response shapes of the AutoMatrix API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import ConfigDict, Field

from auterity.core.schemas import ResponseModel, StrictModel


class WorkflowOut(ResponseModel):
    id: uuid.UUID
    name: str
    description: str | None
    version: int
    created_at: datetime
    updated_at: datetime
    spec: dict[str, Any] | None = None

    @classmethod
    def from_row(cls, workflow: Any, spec: dict[str, Any] | None = None) -> WorkflowOut:
        """From a `Workflow` row (its `version` is the current one), with a spec if wanted."""
        return cls(
            id=workflow.id,
            name=workflow.name,
            description=workflow.description,
            version=workflow.current_version,
            created_at=workflow.created_at,
            updated_at=workflow.updated_at,
            spec=spec,
        )


class WorkflowPage(ResponseModel):
    items: list[WorkflowOut]
    next_cursor: str | None


class VersionOut(ResponseModel):
    version: int
    created_at: datetime
    created_by: uuid.UUID | None
    spec: dict[str, Any]


class ValidationOut(ResponseModel):
    valid: bool
    errors: list[dict[str, Any]]
    warnings: list[dict[str, Any]]


class RunCreate(StrictModel):
    inputs: dict[str, Any] = Field(default_factory=dict)
    version: int | None = Field(
        default=None, description="Run this version (default: the current one)."
    )


class RunRetry(StrictModel):
    """A retry: a new run that reuses what succeeded upstream of where it restarts."""

    model_config = ConfigDict(populate_by_name=True)

    from_step: str | None = Field(
        default=None,
        description="Restart here: this step and every step after it run again "
        "(default: the steps that failed).",
    )
    inputs: dict[str, Any] | None = Field(
        default=None,
        description="A JSON Merge Patch over the original run's inputs (null removes a key).",
    )
    with_: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        alias="with",
        description="Per step id, a JSON Merge Patch over the step's parameters; "
        "an edited step runs again.",
    )


class StepOut(ResponseModel):
    id: str
    status: str
    attempt: int
    input: Any = None
    output: Any = None
    error: dict[str, Any] | None = None
    logs: list[str] = Field(default_factory=list)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    reused_from: uuid.UUID | None = Field(
        default=None, description="Set when a retry reused this result from that run."
    )


class RunOut(ResponseModel):
    id: uuid.UUID
    workflow_id: uuid.UUID
    version: int
    status: str
    inputs: dict[str, Any]
    outputs: Any = None
    error: dict[str, Any] | None = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    retry_of: uuid.UUID | None = None
    step_overrides: dict[str, dict[str, Any]] | None = None
    steps: list[StepOut] | None = None


class RunPage(ResponseModel):
    items: list[RunOut]
    next_cursor: str | None
