"""OpenAI's API: chat completions (streamed or not) and embeddings, passed through as is."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from auterity.relaycore.providers.base import Call, ProviderNotConfigured, UpstreamServerError
from auterity.relaycore.providers.transport import ProviderHttp, sse_events


class OpenAIProvider:
    """Speaks OpenAI's wire format to `base_url` (which ends in `/v1`)."""

    requires_key = True

    def __init__(self, http: ProviderHttp) -> None:
        self.http = http

    def _headers(self, call: Call) -> dict[str, str]:
        if call.api_key:
            return {"authorization": f"Bearer {call.api_key}", **call.headers}
        if self.requires_key:
            raise ProviderNotConfigured(
                f"no API key for provider {call.deployment.provider!r} "
                "(AUTERITY_RELAY_PROVIDER_KEYS or the provider's api_key_secret)"
            )
        return dict(call.headers)

    def _url(self, call: Call, path: str) -> str:
        base = call.deployment.provider_spec.base_url or ""
        return base.rstrip("/") + path

    def _body(self, call: Call) -> dict[str, Any]:
        return {**call.body, "model": call.deployment.upstream_model}

    async def _post(self, call: Call, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self.http.post_json(call, self._url(call, path), body, self._headers(call))

    async def chat(self, call: Call) -> dict[str, Any]:
        body = self._body(call)
        body.pop("stream", None)
        body.pop("stream_options", None)
        return await self._post(call, "/chat/completions", body)

    async def stream(self, call: Call) -> AsyncIterator[dict[str, Any]]:
        # Usage is always asked for, so every stream can be priced; the gateway drops the
        # usage chunk again for clients that did not ask for it.
        body = {**self._body(call), "stream": True, "stream_options": {"include_usage": True}}
        async with self.http.open(
            call, self._url(call, "/chat/completions"), body, self._headers(call)
        ) as response:
            async for _, data in sse_events(response):
                if data == "[DONE]":
                    return
                try:
                    chunk = json.loads(data)
                except ValueError:
                    raise UpstreamServerError("the provider sent an unreadable event") from None
                if "error" in chunk:
                    error = chunk["error"] or {}
                    raise UpstreamServerError(str(error.get("message") or "stream failed"))
                yield chunk

    async def embed(self, call: Call) -> dict[str, Any]:
        return await self._post(call, "/embeddings", self._body(call))

    async def aclose(self) -> None:
        """Pools belong to the shared outbound factory, which the gateway closes."""
