"""Chat requests between OpenAI's and Anthropic's shapes, both ways.

OpenAI -> Anthropic when the routed deployment is Anthropic; Anthropic -> OpenAI when a client
of `/v1/messages` is served (the gateway works in OpenAI's shape inside). JSON-schema output,
which Anthropic has no parameter for, becomes one forced tool whose input is the answer.
"""

from __future__ import annotations

import json
from typing import Any

JSON_TOOL = "json_response"
DEFAULT_MAX_TOKENS = 4096
JSON_OBJECT_INSTRUCTION = "Answer with a single JSON object and nothing else."


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(part.get("text", ""))
            for part in content
            if isinstance(part, dict) and part.get("type") in ("text", "input_text")
        )
    return ""


def _image_block(part: dict[str, Any]) -> dict[str, Any]:
    url = str((part.get("image_url") or {}).get("url", ""))
    if url.startswith("data:") and ";base64," in url:
        media_type, data = url[5:].split(";base64,", 1)
        return {
            "type": "image",
            "source": {"type": "base64", "media_type": media_type, "data": data},
        }
    return {"type": "image", "source": {"type": "url", "url": url}}


def _user_blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    blocks: list[dict[str, Any]] = []
    for part in content or ():
        if part.get("type") == "text":
            blocks.append({"type": "text", "text": str(part.get("text", ""))})
        elif part.get("type") == "image_url":
            blocks.append(_image_block(part))
    return blocks


def _assistant_blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    text = _text_of(message.get("content"))
    if text:
        blocks.append({"type": "text", "text": text})
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        try:
            arguments = json.loads(function.get("arguments") or "{}")
        except ValueError:
            arguments = {"_raw": function.get("arguments")}
        blocks.append(
            {
                "type": "tool_use",
                "id": call.get("id"),
                "name": function.get("name"),
                "input": arguments if isinstance(arguments, dict) else {"value": arguments},
            }
        )
    return blocks


def _append(messages: list[dict[str, Any]], role: str, blocks: list[dict[str, Any]]) -> None:
    # Anthropic wants turns to alternate: consecutive same-role turns become one.
    if messages and messages[-1]["role"] == role:
        messages[-1]["content"].extend(blocks)
    else:
        messages.append({"role": role, "content": blocks})


def _tool_choice(choice: Any, parallel: Any) -> dict[str, Any] | None:
    result: dict[str, Any] | None
    if choice in (None, "auto"):
        result = {"type": "auto"} if parallel is False else None
    elif choice == "none":
        result = {"type": "none"}
    elif choice == "required":
        result = {"type": "any"}
    elif isinstance(choice, dict):
        result = {"type": "tool", "name": (choice.get("function") or {}).get("name")}
    else:
        result = None
    if result is not None and parallel is False and result["type"] != "none":
        result["disable_parallel_tool_use"] = True
    return result


def openai_to_anthropic(
    body: dict[str, Any], model: str, default_max_tokens: int | None = None
) -> tuple[dict[str, Any], bool]:
    """The Anthropic Messages body for an OpenAI chat body, and whether JSON is forced by tool."""
    system: list[str] = []
    messages: list[dict[str, Any]] = []
    for message in body.get("messages") or ():
        role = message.get("role")
        if role in ("system", "developer"):
            system.append(_text_of(message.get("content")))
        elif role == "assistant":
            blocks = _assistant_blocks(message)
            if blocks:
                _append(messages, "assistant", blocks)
        elif role in ("tool", "function"):
            result = {
                "type": "tool_result",
                "tool_use_id": message.get("tool_call_id") or message.get("name"),
                "content": _text_of(message.get("content")),
            }
            _append(messages, "user", [result])
        else:
            _append(messages, "user", _user_blocks(message.get("content")))
    max_tokens = (
        body.get("max_completion_tokens")
        or body.get("max_tokens")
        or default_max_tokens
        or DEFAULT_MAX_TOKENS
    )
    out: dict[str, Any] = {"model": model, "messages": messages, "max_tokens": max_tokens}
    if body.get("temperature") is not None:
        out["temperature"] = min(float(body["temperature"]), 1.0)
    if body.get("top_p") is not None:
        out["top_p"] = body["top_p"]
    stop = body.get("stop")
    if stop:
        out["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if body.get("user"):
        out["metadata"] = {"user_id": str(body["user"])}
    tools = [
        {
            "name": (tool.get("function") or {}).get("name"),
            "description": (tool.get("function") or {}).get("description", ""),
            "input_schema": (tool.get("function") or {}).get("parameters")
            or {"type": "object", "properties": {}},
        }
        for tool in body.get("tools") or ()
        if tool.get("type", "function") == "function"
    ]
    choice = _tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"))
    json_by_tool = False
    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema") or {"type": "object"}
        tools.append({"name": JSON_TOOL, "description": "Give the answer.", "input_schema": schema})
        choice = {"type": "tool", "name": JSON_TOOL}
        json_by_tool = True
    elif response_format.get("type") == "json_object":
        system.append(JSON_OBJECT_INSTRUCTION)
    if tools:
        out["tools"] = tools
    if choice is not None and (tools or choice["type"] == "none"):
        out["tool_choice"] = choice
    if system:
        out["system"] = "\n\n".join(part for part in system if part)
    if body.get("stream"):
        out["stream"] = True
    return out, json_by_tool


def _result_text(content: Any) -> str:
    if isinstance(content, list):
        return "".join(
            str(block.get("text", "")) for block in content if block.get("type") == "text"
        )
    return str(content or "")


def _openai_part(block: dict[str, Any]) -> dict[str, Any] | None:
    if block.get("type") == "text":
        return {"type": "text", "text": block.get("text", "")}
    if block.get("type") == "image":
        source = block.get("source") or {}
        if source.get("type") == "base64":
            url = f"data:{source.get('media_type')};base64,{source.get('data')}"
        else:
            url = str(source.get("url", ""))
        return {"type": "image_url", "image_url": {"url": url}}
    return None


def _from_anthropic_message(message: dict[str, Any]) -> list[dict[str, Any]]:
    role, content = message.get("role"), message.get("content")
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    if not isinstance(content, list):
        return []
    if role == "assistant":
        text = "".join(b.get("text", "") for b in content if b.get("type") == "text")
        calls = [
            {
                "id": block.get("id"),
                "type": "function",
                "function": {
                    "name": block.get("name"),
                    "arguments": json.dumps(block.get("input") or {}),
                },
            }
            for block in content
            if block.get("type") == "tool_use"
        ]
        out: dict[str, Any] = {"role": "assistant", "content": text or None}
        if calls:
            out["tool_calls"] = calls
        return [out]
    results = [
        {
            "role": "tool",
            "tool_call_id": block.get("tool_use_id"),
            "content": _result_text(block.get("content")),
        }
        for block in content
        if block.get("type") == "tool_result"
    ]
    parts = [part for block in content if (part := _openai_part(block)) is not None]
    if parts:
        if all(part["type"] == "text" for part in parts):
            results.append({"role": "user", "content": "".join(p["text"] for p in parts)})
        else:
            results.append({"role": "user", "content": parts})
    return results


def anthropic_to_openai(body: dict[str, Any]) -> dict[str, Any]:
    """The OpenAI chat body for an Anthropic Messages body (the `/v1/messages` surface)."""
    messages: list[dict[str, Any]] = []
    system = body.get("system")
    if system:
        messages.append({"role": "system", "content": _result_text(system)})
    for message in body.get("messages") or ():
        messages.extend(_from_anthropic_message(message))
    out: dict[str, Any] = {"model": body.get("model"), "messages": messages}
    if body.get("max_tokens") is not None:
        out["max_tokens"] = body["max_tokens"]
    for key in ("temperature", "top_p", "stream"):
        if body.get(key) is not None:
            out[key] = body[key]
    if body.get("stop_sequences"):
        out["stop"] = list(body["stop_sequences"])
    user = (body.get("metadata") or {}).get("user_id")
    if user:
        out["user"] = str(user)
    tools = [
        {
            "type": "function",
            "function": {
                "name": tool.get("name"),
                "description": tool.get("description", ""),
                "parameters": tool.get("input_schema") or {"type": "object"},
            },
        }
        for tool in body.get("tools") or ()
        if tool.get("input_schema") is not None or tool.get("type") in (None, "custom")
    ]
    if tools:
        out["tools"] = tools
    choice = body.get("tool_choice") or {}
    kind = choice.get("type")
    if kind == "any":
        out["tool_choice"] = "required"
    elif kind == "tool":
        out["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
    elif kind == "none":
        out["tool_choice"] = "none"
    if choice.get("disable_parallel_tool_use") and tools:
        out["parallel_tool_calls"] = False
    return out
