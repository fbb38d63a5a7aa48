"""Streamed chat answers between Anthropic's events and OpenAI's chunks, both ways.

Each direction is a small state machine fed one event (or chunk) at a time, so a stream is
translated as it arrives and nothing is buffered beyond the current content block.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from auterity.relaycore.translate.requests import JSON_TOOL
from auterity.relaycore.translate.responses import (
    TO_ANTHROPIC_STOP,
    TO_OPENAI_FINISH,
    anthropic_usage,
)


class AnthropicToOpenAIStream:
    """Anthropic Messages stream events -> OpenAI `chat.completion.chunk`s."""

    def __init__(self, model: str, json_by_tool: bool) -> None:
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.model = model
        self.created = int(time.time())
        self.json_by_tool = json_by_tool
        self.usage: dict[str, Any] = {}
        self.tool_index: dict[int, int] = {}  # content block index -> OpenAI tool call index
        self.json_blocks: set[int] = set()
        self.finish: str | None = None

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }

    def feed(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        kind = event.get("type")
        if kind == "message_start":
            message = event.get("message") or {}
            self.model = message.get("model") or self.model
            self.id = f"chatcmpl-{message.get('id') or uuid.uuid4().hex}"
            self.usage.update(message.get("usage") or {})
            return [self._chunk({"role": "assistant", "content": ""})]
        if kind == "content_block_start":
            return self._block_start(int(event.get("index", 0)), event.get("content_block") or {})
        if kind == "content_block_delta":
            return self._block_delta(int(event.get("index", 0)), event.get("delta") or {})
        if kind == "message_delta":
            self.usage.update(
                {k: v for k, v in (event.get("usage") or {}).items() if v is not None}
            )
            reason = (event.get("delta") or {}).get("stop_reason")
            if reason:
                finish = TO_OPENAI_FINISH.get(reason, "stop")
                if finish == "tool_calls" and not self.tool_index:
                    finish = "stop"  # the only tool was the JSON answer
                return [self._chunk({}, finish)]
            return []
        if kind == "message_stop":
            chunk = self._chunk({})
            chunk["choices"] = []
            chunk["usage"] = anthropic_usage(self.usage)
            return [chunk]
        return []

    def _block_start(self, index: int, block: dict[str, Any]) -> list[dict[str, Any]]:
        if block.get("type") != "tool_use":
            return []
        if self.json_by_tool and block.get("name") == JSON_TOOL:
            self.json_blocks.add(index)
            return []
        position = len(self.tool_index)
        self.tool_index[index] = position
        call = {
            "index": position,
            "id": block.get("id"),
            "type": "function",
            "function": {"name": block.get("name"), "arguments": ""},
        }
        return [self._chunk({"tool_calls": [call]})]

    def _block_delta(self, index: int, delta: dict[str, Any]) -> list[dict[str, Any]]:
        kind = delta.get("type")
        if kind == "text_delta":
            return [self._chunk({"content": delta.get("text", "")})]
        if kind == "input_json_delta":
            partial = delta.get("partial_json", "")
            if index in self.json_blocks:
                return [self._chunk({"content": partial})] if partial else []
            if index in self.tool_index:
                call = {"index": self.tool_index[index], "function": {"arguments": partial}}
                return [self._chunk({"tool_calls": [call]})]
        return []


class OpenAIToAnthropicStream:
    """OpenAI `chat.completion.chunk`s -> Anthropic Messages stream events."""

    def __init__(self, model: str, input_tokens: int = 0) -> None:
        self.model = model
        self.input_tokens = input_tokens
        self.started = False
        self.block: int = -1
        self.block_kind: str | None = None
        self.tool_blocks: dict[int, int] = {}  # OpenAI tool call index -> block index
        self.stop_reason = "end_turn"
        self.usage: dict[str, Any] = {}

    def _start(self) -> list[dict[str, Any]]:
        self.started = True
        message: dict[str, Any] = {
            "id": f"msg_{uuid.uuid4().hex}",
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": self.input_tokens, "output_tokens": 0},
        }
        return [{"type": "message_start", "message": message}, {"type": "ping"}]

    def _close_block(self) -> list[dict[str, Any]]:
        if self.block_kind is None:
            return []
        self.block_kind = None
        return [{"type": "content_block_stop", "index": self.block}]

    def _open_block(self, kind: str, block: dict[str, Any]) -> list[dict[str, Any]]:
        events = self._close_block()
        self.block += 1
        self.block_kind = kind
        events.append({"type": "content_block_start", "index": self.block, "content_block": block})
        return events

    def feed(self, chunk: dict[str, Any]) -> list[dict[str, Any]]:
        events = [] if self.started else self._start()
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            text = delta.get("content")
            if text:
                if self.block_kind != "text":
                    events += self._open_block("text", {"type": "text", "text": ""})
                events.append(
                    {
                        "type": "content_block_delta",
                        "index": self.block,
                        "delta": {"type": "text_delta", "text": text},
                    }
                )
            for call in delta.get("tool_calls") or ():
                events += self._tool_delta(call)
            if choice.get("finish_reason"):
                self.stop_reason = TO_ANTHROPIC_STOP.get(choice["finish_reason"], "end_turn")
        return events

    def _tool_delta(self, call: dict[str, Any]) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        position = int(call.get("index", 0))
        function = call.get("function") or {}
        if position not in self.tool_blocks:
            block: dict[str, Any] = {
                "type": "tool_use",
                "id": call.get("id") or f"toolu_{uuid.uuid4().hex}",
                "name": function.get("name"),
                "input": {},
            }
            events += self._open_block("tool_use", block)
            self.tool_blocks[position] = self.block
        arguments = function.get("arguments")
        if arguments:
            events.append(
                {
                    "type": "content_block_delta",
                    "index": self.tool_blocks[position],
                    "delta": {"type": "input_json_delta", "partial_json": arguments},
                }
            )
        return events

    def finish(self) -> list[dict[str, Any]]:
        events = [] if self.started else self._start()
        events += self._close_block()
        usage = self.usage
        cached = int((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
        events.append(
            {
                "type": "message_delta",
                "delta": {"stop_reason": self.stop_reason, "stop_sequence": None},
                "usage": {
                    "input_tokens": int(usage.get("prompt_tokens") or self.input_tokens) - cached,
                    "output_tokens": int(usage.get("completion_tokens") or 0),
                    "cache_read_input_tokens": cached,
                },
            }
        )
        events.append({"type": "message_stop"})
        return events
