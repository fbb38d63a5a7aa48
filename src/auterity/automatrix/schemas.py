"""Request and response shapes of the AutoMatrix API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import Field

from auterity.core.schemas import ResponseModel, StrictModel


class WorkflowOut(ResponseModel):
    id: uuid.UUID
    name: str
    description: str | None
    version: int
    created_at: datetime
    updated_at: datetime
    spec: dict[str, Any] | None = None


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
    steps: list[StepOut] | None = None


class RunPage(ResponseModel):
    items: list[RunOut]
    next_cursor: str | None
