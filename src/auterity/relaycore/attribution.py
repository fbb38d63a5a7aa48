"""Who a gateway request is charged to: tenant, API key and the workflow/run/step headers.

The pipeline builds one `Attribution` per request (from the principal and the
`X-Auterity-Workflow`/`-Run`/`-Step` headers); budgets, rate limits and usage read only this.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass

WORKFLOW_HEADER = "x-auterity-workflow"
RUN_HEADER = "x-auterity-run"
STEP_HEADER = "x-auterity-step"
MAX_ATTRIBUTION_LENGTH = 200


@dataclass(frozen=True, slots=True)
class Attribution:
    tenant_id: uuid.UUID
    api_key_id: uuid.UUID | None = None
    workflow: str | None = None
    run: str | None = None
    step: str | None = None

    @classmethod
    def from_headers(
        cls, tenant_id: uuid.UUID, api_key_id: uuid.UUID | None, headers: Mapping[str, str]
    ) -> Attribution:
        """Read the attribution headers (case-insensitive mapping); blank values count as absent."""
        return cls(
            tenant_id=tenant_id,
            api_key_id=api_key_id,
            workflow=_header(headers, WORKFLOW_HEADER),
            run=_header(headers, RUN_HEADER),
            step=_header(headers, STEP_HEADER),
        )


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = (headers.get(name) or "").strip()
    # Truncated rather than refused: attribution must never fail a request.
    return value[:MAX_ATTRIBUTION_LENGTH] or None
