"""API shapes of `/api/auth/policies`: policies in and out, and the dry-run evaluation."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, Field, IPvAnyAddress

from auterity.core.schemas import ResponseModel, StrictModel
from auterity.identity.policies.conditions import (
    Effect,
    Fingerprint,
    Method,
    PathPrefix,
    PolicyConditions,
)


class PolicyCreate(StrictModel):
    name: str = Field(min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=500)
    priority: int = Field(default=0, ge=-1_000_000, le=1_000_000)
    enabled: bool = True
    effect: Effect
    conditions: PolicyConditions = Field(default_factory=PolicyConditions)


class PolicyUpdate(StrictModel):
    """Fields to change; `conditions`, when given, replaces the whole set."""

    name: str | None = Field(default=None, min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=500)
    priority: int | None = Field(default=None, ge=-1_000_000, le=1_000_000)
    enabled: bool | None = None
    effect: Effect | None = None
    conditions: PolicyConditions | None = None


class PolicyOut(ResponseModel):
    id: uuid.UUID
    name: str
    description: str | None
    priority: int
    enabled: bool
    effect: Effect
    conditions: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class EvaluationRequest(StrictModel):
    """A request to judge without making it. Leave out the principal to ask about yourself."""

    path: PathPrefix
    method: Method = "GET"
    user_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None
    ip: IPvAnyAddress | None = Field(
        default=None, description="Client address; defaults to the address of this request."
    )
    at: AwareDatetime | None = Field(default=None, description="When; defaults to now.")
    client_cert_fingerprint: Fingerprint | None = None
    mfa_age_seconds: int | None = Field(
        default=None,
        ge=0,
        description="Seconds since the principal's multi-factor login. Default: your own "
        "session's state when asking about yourself, no MFA for anyone else.",
    )


class PolicyRef(ResponseModel):
    id: uuid.UUID
    name: str


class EvaluationResult(ResponseModel):
    effect: Effect
    mfa_required: bool
    policy: PolicyRef | None
    reason: str
