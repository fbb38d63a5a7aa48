"""How the vector collections get embeddings: an interface the platform fills with RelayCore.

The collections do not call a model themselves; whoever builds the service hands it an
`Embedder` (the app: one over its RelayCore client), so embeddings are routed, budgeted and
accounted per tenant like every other model call.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Attribution:
    """What the cost of an embedding is booked to, besides the tenant."""

    workflow: str | None = None
    run: str | None = None
    step: str | None = None


@dataclass(frozen=True)
class Embedded:
    vectors: list[list[float]]
    model: str
    cost_micros: int


class EmbeddingFailed(Exception):
    """The model gateway refused or could not embed; `status` is its HTTP status (0: none)."""

    def __init__(self, status: int, message: str, *, kind: str = "upstream_error") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind


class Embedder(Protocol):
    async def embed(
        self, tenant_id: uuid.UUID, model: str, texts: list[str], attribution: Attribution
    ) -> Embedded: ...
