"""The workflow spec: what a user writes (YAML or JSON), as typed pydantic models.

Shape checks (types, required fields, unknown keys) live here; meaning checks (references,
cycles, actions, expressions) live in `validation.py`, which reports everything at once.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

STEP_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}
ErrorKind = Literal[
    "timeout", "network", "rate_limited", "server_error", "client_error", "action_error", "any"
]


# Parameters passed to the action as written, never rendered as expressions: a code step's
# source must not be assembled from run data (that would be code injection; values go in
# through its `inputs`), and Python's own `{{` must survive. Kept here, not on the action,
# because the graph reads references from specs without the action registry.
LITERAL_PARAMETERS: dict[str, frozenset[str]] = {"code.python": frozenset({"code"})}

DEFAULT_RETRY_ON: tuple[ErrorKind, ...] = ("timeout", "network", "rate_limited", "server_error")


def parse_duration(value: object) -> float:
    """Seconds from a number or a string such as `500ms`, `30s`, `5m`, `2h`, `1d`."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string like '30s'")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    else:
        raise ValueError(
            f"{value!r} is not a duration; use seconds or '500ms', '30s', '5m', '2h', '1d'"
        )
    if seconds <= 0:
        raise ValueError("a duration must be positive")
    return seconds


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Backoff(_Model):
    initial: float = Field(default=1.0, gt=0, description="Seconds before the first retry.")
    factor: float = Field(default=2.0, ge=1)
    max: float = Field(default=300.0, gt=0, description="Upper bound of one wait, in seconds.")

    @field_validator("initial", "max", mode="before")
    @classmethod
    def _duration(cls, value: object) -> float:
        return parse_duration(value)


class RetryPolicy(_Model):
    max_attempts: int = Field(
        default=1, ge=1, le=100, description="Attempts in all, the first included."
    )
    backoff: Backoff = Field(default_factory=Backoff)
    jitter: bool = Field(
        default=True, description="Randomise each wait (full jitter) to spread retries."
    )
    retry_on: list[ErrorKind] = Field(
        default_factory=lambda: list(DEFAULT_RETRY_ON),
        description="Error kinds that are retried; `any` retries every failure.",
    )


class StepSpec(_Model):
    id: str = Field(description="Unique within the workflow; referenced as steps.<id>.")
    uses: str = Field(description="The action to run, e.g. `http.request`.")
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")
    needs: list[str] = Field(default_factory=list)
    if_: str | None = Field(
        default=None, alias="if", description="Skip the step unless this is true."
    )
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    timeout: float | None = Field(default=None, description="Seconds (or '30s') per attempt.")
    on_error: str = Field(
        default="fail", description="`fail`, `continue`, or the id of a fallback step."
    )
    for_each: str | list[Any] | None = Field(
        default=None, description="Run once per item (`item`)."
    )
    concurrency: int | None = Field(
        default=None, ge=1, le=1000, description="Parallel items of for_each."
    )
    name: str | None = None

    @field_validator("timeout", mode="before")
    @classmethod
    def _timeout(cls, value: object) -> float | None:
        return None if value is None else parse_duration(value)

    @property
    def templated(self) -> dict[str, Any]:
        """The parameters that hold expressions (all but the action's literal ones)."""
        literal = LITERAL_PARAMETERS.get(self.uses)
        if not literal:
            return self.with_
        return {key: value for key, value in self.with_.items() if key not in literal}

    @field_validator("needs", mode="before")
    @classmethod
    def _needs(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value


class WorkflowSpec(_Model):
    name: str = Field(min_length=1, max_length=200)
    description: str | None = None
    version: str | int | None = None
    inputs: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object"}, description="JSON Schema of the run inputs."
    )
    steps: list[StepSpec] = Field(min_length=1)
    outputs: dict[str, Any] = Field(default_factory=dict)
    concurrency: int | None = Field(
        default=None, ge=1, le=10_000, description="Steps running at once."
    )
    timeout: float | None = Field(default=None, description="Whole-run limit, seconds or '10m'.")

    @field_validator("timeout", mode="before")
    @classmethod
    def _timeout(cls, value: object) -> float | None:
        return None if value is None else parse_duration(value)

    def step(self, step_id: str) -> StepSpec:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)


def spec_json_schema() -> dict[str, Any]:
    """The published JSON Schema of the spec (`/api/schemas/workflow.json`)."""
    schema = WorkflowSpec.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://auterity.dev/schemas/workflow.json"
    return schema
