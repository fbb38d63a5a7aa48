"""The exact cache's key: a request reduced to what changes the answer, hashed.

Two requests that differ only in key order, in fields left at their documented default, in
`max_tokens` versus `max_completion_tokens`, or in fields that do not change the model's
output (`user`, `stream`, `stream_options`, `metadata`, `store`) get the same key: a cached
answer is replayed in whichever form (streamed or not) the new request asked for.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

# Fields that identify or route the caller, or shape delivery, not the answer.
IGNORED = frozenset(
    {
        "user",
        "stream",
        "stream_options",
        "metadata",
        "store",
        "safety_identifier",
        "prompt_cache_key",
    }
)
# OpenAI's documented defaults: sending them is the same request as leaving them out.
DEFAULTS: dict[str, Any] = {
    "temperature": 1,
    "top_p": 1,
    "n": 1,
    "presence_penalty": 0,
    "frequency_penalty": 0,
    "logprobs": False,
    "parallel_tool_calls": True,
    "response_format": {"type": "text"},
    "encoding_format": "float",
    "tools": [],
    "stop": [],
    "logit_bias": {},
}


def _strip_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _strip_none(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_strip_none(item) for item in value]
    return value


def _message(message: Any) -> Any:
    if not isinstance(message, dict):
        return message
    content = message.get("content")
    # A single text part is the same prompt as the plain string.
    if (
        isinstance(content, list)
        and len(content) == 1
        and isinstance(content[0], dict)
        and content[0].get("type") == "text"
    ):
        message = {**message, "content": content[0].get("text")}
    return message


def normalise(request: dict[str, Any]) -> dict[str, Any]:
    """The request as the cache compares it."""
    body: dict[str, Any] = _strip_none({k: v for k, v in request.items() if k not in IGNORED})
    if "max_tokens" in body:
        body.setdefault("max_completion_tokens", body["max_tokens"])
        del body["max_tokens"]
    if isinstance(body.get("stop"), str):
        body["stop"] = [body["stop"]]
    if isinstance(body.get("input"), str):
        body["input"] = [body["input"]]
    if isinstance(body.get("messages"), list):
        body["messages"] = [_message(message) for message in body["messages"]]
    for key, default in DEFAULTS.items():
        if key in body and body[key] == default:
            del body[key]
    return body


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def fingerprint(request: dict[str, Any]) -> str:
    """SHA-256 (hex) of the normalised request."""
    return hashlib.sha256(canonical(normalise(request)).encode()).hexdigest()
