"""API shapes of `/api/relay/usage`."""

from __future__ import annotations

from pydantic import BaseModel, Field


class UsageRow(BaseModel):
    day: str | None = Field(default=None, description="UTC date (YYYY-MM-DD) when grouped by day.")
    model: str | None = Field(default=None, description="Routed model when grouped by model.")
    key: str | None = Field(default=None, description="API key id when grouped by key.")
    workflow: str | None = None
    requests: int
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    cost_micros: int
    cache_hits: int
    errors: int
    failovers: int
    avg_latency_ms: float


class UsageReport(BaseModel):
    group_by: list[str]
    items: list[UsageRow]
