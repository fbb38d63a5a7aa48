"""`approval`: pause the run until a permitted person approves or rejects (or time runs out)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, Field, field_validator

from auterity.automatrix.actions.base import Action, ActionContext, ActionInput, Suspend
from auterity.automatrix.spec import parse_duration
from auterity.core.clock import utcnow


class ApprovalInput(ActionInput):
    message: str = Field(description="What the approver is asked.")
    approvers: list[str] = Field(
        default_factory=list,
        description="Emails or role names allowed to decide; empty: anyone with workflow:run.",
    )
    timeout: float = Field(default=7 * 86400, description="How long to wait, seconds or '3d'.")
    on_timeout: str = Field(default="reject", pattern="^(reject|approve)$")

    @field_validator("timeout", mode="before")
    @classmethod
    def _timeout(cls, value: object) -> float:
        return parse_duration(value)


class ApprovalOutput(BaseModel):
    approved: bool
    decided_by: str | None = None
    comment: str | None = None


class Approval(Action[ApprovalInput, ApprovalOutput]):
    name = "approval"
    description = (
        "Waits durably for POST /api/runs/{run}/steps/{step}/approve or /reject by a permitted "
        "user; nothing is held while it waits."
    )
    Input = ApprovalInput
    Output = ApprovalOutput

    async def run(self, ctx: ActionContext, params: ApprovalInput) -> Suspend:
        resume_at = utcnow() + timedelta(seconds=params.timeout)
        if params.on_timeout == "approve":
            return Suspend(resume_at, {"approved": True, "decided_by": "timeout", "comment": None})
        return Suspend(
            resume_at,
            {"approved": False, "decided_by": "timeout", "comment": None},
            timeout_error={
                "kind": "rejected",
                "message": f"No decision within {params.timeout:g}s.",
            },
        )
