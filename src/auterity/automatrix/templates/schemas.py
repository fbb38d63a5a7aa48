"""Request and response shapes of the template API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import Field

from auterity.automatrix.schemas import WorkflowOut
from auterity.core.schemas import ResponseModel, StrictModel


class TemplateOut(ResponseModel):
    id: uuid.UUID
    name: str
    description: str | None
    category: str | None
    tags: list[str]
    current_version: int
    latest_version: int
    created_at: datetime
    updated_at: datetime
    document: dict[str, Any] | None = Field(
        default=None, description="The current version's document (on single reads)."
    )


class TemplatePage(ResponseModel):
    items: list[TemplateOut]
    next_cursor: str | None


class TemplateVersionOut(ResponseModel):
    version: int
    current: bool
    tests_passed: bool | None
    created_at: datetime
    created_by: uuid.UUID | None
    document: dict[str, Any] | None = None


class Rollback(StrictModel):
    version: int = Field(ge=1, description="The version to make current again.")


class Instantiate(StrictModel):
    parameters: dict[str, Any] = Field(default_factory=dict)
    name: str | None = Field(
        default=None, min_length=1, max_length=200, description="The workflow's name."
    )
    version: int | None = Field(default=None, ge=1, description="Default: the current one.")


class InstanceOut(ResponseModel):
    template_id: uuid.UUID
    template_version: int
    parameters: dict[str, Any]


class InstantiatedOut(WorkflowOut):
    template: InstanceOut


class UpgradeRequest(StrictModel):
    to: int | None = Field(default=None, ge=1, description="Default: the template's current.")
    parameters: dict[str, Any] | None = Field(
        default=None, description="Values to change (new parameters of the newer version)."
    )


class UpgradePreview(ResponseModel):
    from_version: int
    to_version: int
    diff: dict[str, Any]


class TestCaseOut(ResponseModel):
    name: str
    passed: bool
    failures: list[str]
    status: str | None
    steps: dict[str, str]
    outputs: Any = None


class TestReport(ResponseModel):
    passed: bool
    cases: list[TestCaseOut]
