"""Shapes of `/api/llm`: completions, conversations and their messages."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, Self

from pydantic import ConfigDict, Field, model_validator

from auterity.core.schemas import ResponseModel, StrictModel
from auterity.relaycore.catalog import Capability

Role = Literal["system", "user", "assistant"]
MAX_TEXT = 1_000_000
MODEL_HELP = (
    "A model (`gpt-4o-mini`) or alias (`fast`, `cheap`, `smart`, `auto`); omit for the "
    "gateway's default."
)


class ChatMessage(StrictModel):
    role: Role
    content: str = Field(max_length=MAX_TEXT)


class Routing(StrictModel):
    """How the gateway picks the model: one name, or a policy, and what the model must do."""

    model: str | None = Field(default=None, min_length=1, max_length=200, description=MODEL_HELP)
    policy: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="A routing policy of the catalog (`cheapest`, `fastest`, `difficulty`).",
    )
    needs: list[Capability] = Field(
        default_factory=list, description="Capabilities the model must have."
    )

    @model_validator(mode="after")
    def _model_or_policy(self) -> Self:
        if self.model is not None and self.policy is not None:
            raise ValueError("give either model or policy, not both")
        return self

    def requested(self) -> str | None:
        return f"router/{self.policy}" if self.policy else self.model


class CompletionCreate(Routing):
    prompt: str | None = Field(default=None, min_length=1, max_length=MAX_TEXT)
    messages: list[ChatMessage] | None = Field(default=None, min_length=1)
    system: str | None = Field(default=None, max_length=MAX_TEXT)
    max_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    temperature: float | None = Field(default=None, ge=0, le=2)
    stop: list[str] | None = Field(default=None, max_length=4)
    response_format: Literal["text", "json"] | None = Field(
        default=None, description="`json`: the answer is a JSON object (parsed into `json`)."
    )
    json_schema: dict[str, Any] | None = Field(
        default=None, description="A JSON schema the answer must follow (parsed into `json`)."
    )
    max_cost_usd: Decimal | None = Field(
        default=None,
        gt=0,
        le=1000,
        description=(
            "The most this call may cost: the prompt plus max_tokens (1024 when unset) at the "
            "routed model's prices must fit, else a cheaper candidate is used or 402 answered."
        ),
    )

    @model_validator(mode="after")
    def _prompt_or_messages(self) -> Self:
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("give either prompt or messages")
        if self.response_format == "text" and self.json_schema is not None:
            raise ValueError("json_schema asks for JSON: drop response_format 'text'")
        return self


class TokenUsage(ResponseModel):
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    total_tokens: int


class CompletionOut(ResponseModel):
    text: str
    json_value: Any | None = Field(
        default=None, alias="json", description="The answer parsed, when JSON was asked for."
    )
    finish_reason: str | None
    model: str
    provider: str
    route: str = Field(description="Why this model: the routing decision.")
    usage: TokenUsage
    cost_micros: int
    cost_usd: str
    cache_hit: bool
    request_id: str

    # `json` is a BaseModel method name: the field is `json_value`, written as `json`.
    model_config = ConfigDict(from_attributes=True, populate_by_name=True, serialize_by_alias=True)


class ConversationCreate(Routing):
    title: str | None = Field(default=None, max_length=200)
    system: str | None = Field(default=None, max_length=MAX_TEXT, description="The system prompt.")
    context_strategy: Literal["summarize", "drop"] = Field(
        default="summarize",
        description="When the history outgrows the model's window: fold the oldest turns "
        "into a summary, or leave them out.",
    )
    summary_model: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Who writes summaries; default the `cheap` alias where there is one.",
    )
    max_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    temperature: float | None = Field(default=None, ge=0, le=2)


class MessageCreate(StrictModel):
    content: str = Field(min_length=1, max_length=MAX_TEXT)
    model: str | None = Field(
        default=None, min_length=1, max_length=200, description="This turn only; " + MODEL_HELP
    )
    max_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_cost_usd: Decimal | None = Field(default=None, gt=0, le=1000)


class Totals(ResponseModel):
    messages: int
    input_tokens: int
    output_tokens: int
    cost_micros: int
    cost_usd: str
    summary_cost_micros: int = Field(description="The part of cost_micros spent on summaries.")


class MessageOut(ResponseModel):
    id: uuid.UUID
    position: int
    role: str
    content: str
    context: Literal["active", "dropped", "summarized"]
    tokens: int
    model: str | None
    provider: str | None
    input_tokens: int
    output_tokens: int
    cost_micros: int
    request_id: str | None
    folded: dict[str, int] | None
    created_at: datetime


class ConversationOut(ResponseModel):
    id: uuid.UUID
    title: str | None
    system: str | None
    model: str | None
    summary_model: str | None
    context_strategy: str
    max_tokens: int | None
    temperature: float | None
    needs: list[str]
    totals: Totals
    created_at: datetime
    updated_at: datetime
    messages: list[MessageOut] | None = None


class ConversationPage(ResponseModel):
    items: list[ConversationOut]
    next_cursor: str | None


class WindowOut(ResponseModel):
    """What this turn sent: the window decision, made visible."""

    strategy: str
    model_window: int = Field(description="The smallest window among the candidate models.")
    reply_tokens: int = Field(description="Tokens kept free for the reply (its max_tokens).")
    prompt_tokens: int = Field(description="The prompt sent, counted for the answering model.")
    included: int = Field(description="Earlier messages sent with this turn (not the summary).")
    dropped: int = Field(description="Messages left out for good by this turn.")
    summarized: int = Field(description="Messages folded into a new summary by this turn.")
    summary_used: bool


class TurnOut(ResponseModel):
    user: MessageOut
    reply: MessageOut
    summary: MessageOut | None
    window: WindowOut
    route: str
    cost_micros: int = Field(description="This turn: the reply and any summary.")
    cost_usd: str
    conversation: ConversationOut
