"""The vector collections' `Embedder`, filled by RelayCore's client (in-process or HTTP), so
every embedding is routed, budgeted and accounted like a chat completion."""

from __future__ import annotations

import uuid

from auterity.integrations.vectors import Attribution, Embedded, EmbeddingFailed
from auterity.relaycore.client import CallContext, RelayCallError, RelayClient


class RelayEmbedder:
    def __init__(self, client: RelayClient) -> None:
        self.client = client

    async def embed(
        self, tenant_id: uuid.UUID, model: str, texts: list[str], attribution: Attribution
    ) -> Embedded:
        call = CallContext(tenant_id, attribution.workflow, attribution.run, attribution.step)
        try:
            result = await self.client.embed({"model": model, "input": texts}, call)
        except RelayCallError as exc:
            raise EmbeddingFailed(exc.status, exc.message, kind=exc.kind) from exc
        return Embedded(result.vectors, result.model, result.cost_micros)
