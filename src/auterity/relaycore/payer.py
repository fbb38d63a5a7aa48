"""Who pays for a gateway request: the tenant, the API key, and the workflow, run and step.

Budgets and rate limits read only this. The pipeline builds it from the principal (tenant,
key) and the request's `X-Auterity-Workflow`/`-Run`/`-Step` attribution.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Payer:
    tenant_id: uuid.UUID
    api_key_id: uuid.UUID | None = None
    workflow: str | None = None
    run: str | None = None
    step: str | None = None
