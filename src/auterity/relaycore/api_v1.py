"""The OpenAI-compatible surface: chat completions, embeddings, models (`/v1`)."""

from __future__ import annotations

import base64
import struct
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from auterity.core.errors import FieldError, ValidationFailed
from auterity.core.logging import get_logger
from auterity.relaycore.catalog import allowed
from auterity.relaycore.errors import openai_error
from auterity.relaycore.pipeline import Kind, RelayContext
from auterity.relaycore.surface import (
    attribution,
    authenticate,
    dumps,
    error_response,
    gateway_of,
    read_json,
    relay_headers,
)

log = get_logger(__name__)
router = APIRouter(prefix="/v1", tags=["openai-compatible"])
DONE = b"data: [DONE]\n\n"
MAX_CHOICES = 128


def check_chat(body: dict[str, Any]) -> None:
    problems = []
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        problems.append(FieldError("/messages", "must be a non-empty array of messages"))
    elif not all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages):
        problems.append(FieldError("/messages", "each message must be an object with a role"))
    if "model" in body and not isinstance(body["model"], str):
        problems.append(FieldError("/model", "must be a string"))
    n = body.get("n", 1)
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_CHOICES:
        problems.append(FieldError("/n", f"must be an integer from 1 to {MAX_CHOICES}"))
    for name in ("max_tokens", "max_completion_tokens"):
        value = body.get(name)
        if value is not None and (not isinstance(value, int) or value < 1):
            problems.append(FieldError(f"/{name}", "must be a positive integer"))
    if problems:
        raise ValidationFailed(problems[0].message, errors=problems)


def check_embeddings(body: dict[str, Any]) -> None:
    inputs = body.get("input")
    if not inputs or not isinstance(inputs, str | list):
        raise ValidationFailed(
            "input must be a string or an array",
            errors=[FieldError("/input", "must be a non-empty string or array")],
        )


async def serve(request: Request, kind: Kind) -> Response:
    ctx: RelayContext | None = None
    requested: str | None = None
    try:
        principal = await authenticate(request)
        body = await read_json(request)
        requested = body.get("model") if isinstance(body.get("model"), str) else None
        (check_chat if kind == "chat" else check_embeddings)(body)
        ctx = RelayContext(principal, kind, body, attribution=attribution(request))
        answer = await gateway_of(request).pipeline.handle(ctx)
    except Exception as error:
        return error_response(error, openai_error, ctx, requested)
    if answer.chunks is not None:
        include_usage = bool((ctx.body.get("stream_options") or {}).get("include_usage"))
        return StreamingResponse(
            sse(answer.chunks, include_usage),
            media_type="text/event-stream",
            headers={**relay_headers(ctx), "cache-control": "no-cache"},
        )
    assert answer.body is not None
    if kind == "embedding" and ctx.body.get("encoding_format") == "base64":
        encode_base64(answer.body)
    return Response(dumps(answer.body), media_type="application/json", headers=relay_headers(ctx))


async def sse(chunks: AsyncIterator[dict[str, Any]], include_usage: bool) -> AsyncIterator[bytes]:
    try:
        async for chunk in chunks:
            if "usage" in chunk and not include_usage:
                if not chunk.get("choices"):
                    continue
                chunk = {k: v for k, v in chunk.items() if k != "usage"}
            yield b"data: " + dumps(chunk) + b"\n\n"
    except Exception as error:
        # Bytes are out: the status cannot change, so the error travels as an event.
        _, body, _ = openai_error(error)
        yield b"data: " + dumps(body) + b"\n\n"
        return
    yield DONE


def encode_base64(body: dict[str, Any]) -> None:
    """Vectors as base64 of little-endian float32, as OpenAI sends them when asked."""
    for item in body.get("data") or ():
        vector = item.get("embedding")
        if isinstance(vector, list):
            item["embedding"] = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


@router.post("/chat/completions")
async def chat_completions(request: Request) -> Response:
    """Create a chat completion (OpenAI's request and answer, streamed or not)."""
    return await serve(request, "chat")


@router.post("/embeddings")
async def embeddings(request: Request) -> Response:
    """Create embeddings (OpenAI's request and answer)."""
    return await serve(request, "embedding")


@router.get("/models")
async def list_models(request: Request) -> Response:
    """The models and aliases this key may use."""
    try:
        principal = await authenticate(request)
        gateway = gateway_of(request)
        catalog = await gateway.catalog_for(principal.tenant_id)
    except Exception as error:
        return error_response(error, openai_error, None, None)
    data = []
    for name in catalog.models:
        deployments = catalog.deployments[name]
        if allowed(name, principal.allowed_models) and any(map(gateway.usable, deployments)):
            data.append(
                {"id": name, "object": "model", "created": 0, "owned_by": deployments[0].provider}
            )
    for name in catalog.aliases:
        if allowed(name, principal.allowed_models):
            data.append({"id": name, "object": "model", "created": 0, "owned_by": "auterity"})
    return Response(
        dumps({"object": "list", "data": data}),
        media_type="application/json",
        headers=relay_headers(None),
    )
