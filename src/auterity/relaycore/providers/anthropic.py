"""Anthropic's Messages API behind the OpenAI shape: requests, answers and streams translated."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from auterity.relaycore.providers.base import (
    Call,
    ProviderNotConfigured,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamServerError,
)
from auterity.relaycore.providers.transport import ProviderHttp, sse_events
from auterity.relaycore.translate import (
    AnthropicToOpenAIStream,
    anthropic_to_openai_response,
    openai_to_anthropic,
)

API_VERSION = "2023-06-01"


class AnthropicProvider:
    def __init__(self, http: ProviderHttp) -> None:
        self.http = http

    def _headers(self, call: Call) -> dict[str, str]:
        if not call.api_key:
            raise ProviderNotConfigured(
                f"no API key for provider {call.deployment.provider!r} "
                "(AUTERITY_RELAY_PROVIDER_KEYS or the provider's api_key_secret)"
            )
        return {"x-api-key": call.api_key, "anthropic-version": API_VERSION, **call.headers}

    def _url(self, call: Call) -> str:
        return (call.deployment.provider_spec.base_url or "").rstrip("/") + "/v1/messages"

    async def chat(self, call: Call) -> dict[str, Any]:
        count = int(call.body.get("n") or 1)
        if count == 1:
            return await self._one(call)
        # Anthropic has no `n`: ask n times at once and gather the choices into one answer.
        answers = await asyncio.gather(*(self._one(call) for _ in range(count)))
        merged = answers[0]
        merged["choices"] = [
            {**answer["choices"][0], "index": index} for index, answer in enumerate(answers)
        ]
        merged["usage"] = {
            "prompt_tokens": answers[0]["usage"]["prompt_tokens"],
            "completion_tokens": sum(a["usage"]["completion_tokens"] for a in answers),
            "prompt_tokens_details": answers[0]["usage"]["prompt_tokens_details"],
        }
        merged["usage"]["total_tokens"] = (
            merged["usage"]["prompt_tokens"] + merged["usage"]["completion_tokens"]
        )
        return merged

    async def _one(self, call: Call) -> dict[str, Any]:
        body, json_by_tool = openai_to_anthropic(
            {**call.body, "stream": False}, call.deployment.upstream_model
        )
        answer = await self.http.post_json(call, self._url(call), body, self._headers(call))
        return anthropic_to_openai_response(answer, json_by_tool)

    async def stream(self, call: Call) -> AsyncIterator[dict[str, Any]]:
        if int(call.body.get("n") or 1) > 1:
            raise UpstreamRejected("Anthropic models cannot stream more than one choice (n > 1).")
        body, json_by_tool = openai_to_anthropic(
            {**call.body, "stream": True}, call.deployment.upstream_model
        )
        translator = AnthropicToOpenAIStream(call.deployment.upstream_model, json_by_tool)
        async with self.http.open(call, self._url(call), body, self._headers(call)) as response:
            async for _, data in sse_events(response):
                try:
                    event = json.loads(data)
                except ValueError:
                    raise UpstreamServerError("the provider sent an unreadable event") from None
                if event.get("type") == "error":
                    error = event.get("error") or {}
                    message = str(error.get("message") or "stream failed")
                    if error.get("type") == "rate_limit_error":
                        raise UpstreamRateLimited(message)
                    raise UpstreamServerError(message)
                for chunk in translator.feed(event):
                    yield chunk
                if event.get("type") == "message_stop":
                    return

    async def embed(self, call: Call) -> dict[str, Any]:
        raise UpstreamRejected("Anthropic offers no embeddings; choose an embedding model.")

    async def aclose(self) -> None:
        """Pools belong to the shared outbound factory."""
