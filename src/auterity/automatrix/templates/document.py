"""The template document: a workflow with declared parameters, metadata and test cases.

```yaml
name: lead-follow-up
category: sales
tags: [leads, sms]
parameters:              # JSON Schema of the values `instantiate` takes
  type: object
  properties:
    threshold: {type: integer, default: 70}
    twilio_token: {type: string, format: secret}   # takes a secret's name, never a value
workflow:                # a workflow spec; `{{ params.NAME }}` is filled in at instantiation
  name: lead-follow-up
  steps: [...]
tests:
  - name: a hot lead gets an SMS
    parameters: {threshold: 50}
    inputs: {...}
    responses: {classify: {output: {...}}}   # canned results for steps that reach out
    expect: {status: succeeded, steps: {sms: succeeded}, outputs: {channel: sms}}
```
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from auterity.core.schemas import StrictModel

RunStatus = Literal["succeeded", "failed", "cancelled", "waiting"]
StepStatus = Literal["succeeded", "failed", "skipped", "cancelled", "waiting"]


class CannedError(StrictModel):
    message: str = Field(min_length=1)
    kind: str = "action_error"


class CannedResponse(StrictModel):
    """What a step returns in a test instead of running its action."""

    output: Any = None
    error: CannedError | None = None

    @model_validator(mode="after")
    def _one(self) -> CannedResponse:
        if self.error is not None and self.output is not None:
            raise ValueError("give either `output` or `error`, not both")
        return self


class Expectation(StrictModel):
    status: RunStatus = "succeeded"
    steps: dict[str, StepStatus] = Field(default_factory=dict)
    # Each given output must equal the run's; each step output must contain what is given.
    outputs: dict[str, Any] = Field(default_factory=dict)
    step_outputs: dict[str, Any] = Field(default_factory=dict)


class TemplateTest(StrictModel):
    name: str = Field(min_length=1, max_length=200)
    parameters: dict[str, Any] = Field(default_factory=dict)
    inputs: dict[str, Any] = Field(default_factory=dict)
    responses: dict[str, CannedResponse] = Field(default_factory=dict)
    expect: Expectation = Field(default_factory=Expectation)
    timeout: float = Field(default=30.0, gt=0, le=300)


class TemplateDocument(StrictModel):
    name: str = Field(min_length=1, max_length=200)
    description: str | None = None
    category: str | None = Field(default=None, max_length=100)
    tags: list[str] = Field(default_factory=list, max_length=50)
    parameters: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object", "properties": {}},
        description="JSON Schema (an object) of the parameter values.",
    )
    workflow: dict[str, Any] = Field(description="A workflow spec using {{ params.NAME }}.")
    tests: list[TemplateTest] = Field(default_factory=list)
