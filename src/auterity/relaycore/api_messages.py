"""The Anthropic-compatible surface: `POST /v1/messages`, so the `anthropic` SDK works too.

Requests are translated into the gateway's OpenAI shape, routed like any other (to any
provider, Anthropic or not), and the answer or stream is translated back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from auterity.core.errors import FieldError, ValidationFailed
from auterity.relaycore.errors import anthropic_error
from auterity.relaycore.pipeline import RelayContext
from auterity.relaycore.surface import (
    attribution,
    authenticate,
    dumps,
    error_response,
    gateway_of,
    read_json,
    relay_headers,
)
from auterity.relaycore.translate import (
    OpenAIToAnthropicStream,
    anthropic_to_openai,
    openai_to_anthropic_response,
)

router = APIRouter(prefix="/v1", tags=["anthropic-compatible"])


def check_messages(body: dict[str, Any]) -> None:
    problems = []
    if not isinstance(body.get("model"), str):
        problems.append(FieldError("/model", "Field required."))
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        problems.append(FieldError("/messages", "must be a non-empty array of messages"))
    elif not all(isinstance(m, dict) and m.get("role") in ("user", "assistant") for m in messages):
        problems.append(FieldError("/messages", "each message's role is user or assistant"))
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        problems.append(FieldError("/max_tokens", "Field required: a positive integer."))
    if problems:
        raise ValidationFailed(
            f"{problems[0].pointer.lstrip('/')}: {problems[0].message}", errors=problems
        )


@router.post("/messages")
async def messages(request: Request) -> Response:
    """Create a message (Anthropic's request and answer, streamed or not)."""
    ctx: RelayContext | None = None
    requested: str | None = None
    try:
        principal = await authenticate(request)
        anthropic_body = await read_json(request)
        check_messages(anthropic_body)
        requested = anthropic_body["model"]
        body = anthropic_to_openai(anthropic_body)
        ctx = RelayContext(
            principal, "chat", body, surface="anthropic", attribution=attribution(request)
        )
        answer = await gateway_of(request).pipeline.handle(ctx)
    except Exception as error:
        return error_response(error, anthropic_error, ctx, requested)
    model = requested or ""
    if answer.chunks is not None:
        input_tokens = ctx.needs.prompt_tokens if ctx.needs else 0
        return StreamingResponse(
            events(answer.chunks, model, input_tokens),
            media_type="text/event-stream",
            headers={**relay_headers(ctx), "cache-control": "no-cache"},
        )
    assert answer.body is not None
    return Response(
        dumps(openai_to_anthropic_response(answer.body, model)),
        media_type="application/json",
        headers=relay_headers(ctx),
    )


def _event(event: dict[str, Any]) -> bytes:
    return b"event: " + str(event["type"]).encode() + b"\ndata: " + dumps(event) + b"\n\n"


async def events(
    chunks: AsyncIterator[dict[str, Any]], model: str, input_tokens: int
) -> AsyncIterator[bytes]:
    translator = OpenAIToAnthropicStream(model, input_tokens)
    try:
        async for chunk in chunks:
            for event in translator.feed(chunk):
                yield _event(event)
    except Exception as error:
        _, body, _ = anthropic_error(error)
        yield _event(body)
        return
    for event in translator.finish():
        yield _event(event)
