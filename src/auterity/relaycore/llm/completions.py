"""`POST /api/llm/completions`: a prompt (or messages) in, the text and its cost out."""

from __future__ import annotations

import json
from typing import Any

from auterity.identity.principal import Principal
from auterity.relaycore.costs import format_usd
from auterity.relaycore.gateway import RelayGateway
from auterity.relaycore.llm.calls import Reply, chat, micros_of_usd
from auterity.relaycore.llm.schemas import CompletionCreate, CompletionOut, TokenUsage
from auterity.relaycore.stages import DEFAULT_MAX_OUTPUT_TOKENS


def request_of(body: CompletionCreate) -> dict[str, Any]:
    """The OpenAI-shaped chat request the gateway runs."""
    messages: list[dict[str, Any]] = []
    if body.system:
        messages.append({"role": "system", "content": body.system})
    if body.messages is not None:
        messages.extend(m.model_dump() for m in body.messages)
    else:
        messages.append({"role": "user", "content": body.prompt})
    request: dict[str, Any] = {"messages": messages}
    model = body.requested()
    if model:
        request["model"] = model
    max_tokens = body.max_tokens
    if max_tokens is None and body.max_cost_usd is not None:
        # The ceiling is checked against this cap: the answer must not be allowed past it.
        max_tokens = DEFAULT_MAX_OUTPUT_TOKENS
    if max_tokens is not None:
        request["max_tokens"] = max_tokens
    if body.temperature is not None:
        request["temperature"] = body.temperature
    if body.stop:
        request["stop"] = body.stop
    if body.json_schema is not None:
        request["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": body.json_schema, "strict": True},
        }
    elif body.response_format == "json":
        request["response_format"] = {"type": "json_object"}
    return request


async def complete(
    gateway: RelayGateway, principal: Principal, body: CompletionCreate
) -> tuple[CompletionOut, Reply]:
    reply = await chat(
        gateway,
        principal,
        request_of(body),
        max_cost_micros=micros_of_usd(body.max_cost_usd) if body.max_cost_usd else None,
        capabilities=frozenset(body.needs),
    )
    parsed: Any = None
    if body.json_schema is not None or body.response_format == "json":
        try:
            parsed = json.loads(reply.text)
        except ValueError:
            parsed = None  # a truncated answer (finish_reason "length") is not JSON
    usage = reply.usage
    out = CompletionOut(
        text=reply.text,
        json=parsed,
        finish_reason=reply.finish_reason,
        model=reply.model,
        provider=reply.provider,
        route=reply.route,
        usage=TokenUsage(
            input_tokens=usage.prompt_tokens,
            output_tokens=usage.completion_tokens,
            cached_tokens=usage.cached_tokens,
            total_tokens=usage.total_tokens,
        ),
        cost_micros=reply.cost_micros,
        cost_usd=format_usd(reply.cost_micros),
        cache_hit=reply.cache_hit,
        request_id=reply.request_id,
    )
    return out, reply
