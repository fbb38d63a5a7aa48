"""The `llm.embed` action: embeddings of texts through RelayCore (routed and accounted)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from auterity.automatrix.actions.base import Action, ActionContext, ActionError, ActionInput
from auterity.relaycore.client import RelayCallError

MAX_INPUTS = 2048


class LlmEmbedInput(ActionInput):
    model: str = Field(
        min_length=1, description="An embedding model, e.g. `local/all-minilm-l6-v2`."
    )
    input: str | list[str] = Field(description="One text or a list of texts.")


class LlmEmbedOutput(BaseModel):
    vectors: list[list[float]] = Field(description="One per input, in order.")
    dimensions: int
    model: str
    provider: str
    cost_usd: float


class LlmEmbed(Action[LlmEmbedInput, LlmEmbedOutput]):
    name = "llm.embed"
    description = "Embeds texts with a model through RelayCore."
    Input = LlmEmbedInput
    Output = LlmEmbedOutput
    idempotency = "not needed: embedding again has no side effect"

    async def run(self, ctx: ActionContext, params: LlmEmbedInput) -> LlmEmbedOutput:
        relay = ctx.relay()
        texts = [params.input] if isinstance(params.input, str) else params.input
        if not texts or len(texts) > MAX_INPUTS:
            raise ActionError(f"give 1 to {MAX_INPUTS} texts", kind="client_error")
        try:
            result = await relay.embed({"model": params.model, "input": texts}, ctx.relay_call())
        except RelayCallError as exc:
            raise ActionError.from_relay(exc) from exc
        ctx.add_cost(result.cost_micros)
        vectors = result.vectors
        return LlmEmbedOutput(
            vectors=vectors,
            dimensions=len(vectors[0]) if vectors else 0,
            model=result.model,
            provider=result.provider,
            cost_usd=result.cost_micros / 1_000_000,
        )
