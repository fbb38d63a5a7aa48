"""OpenAI <-> Anthropic translation of requests, answers and streams."""

from __future__ import annotations

import json

from auterity.relaycore.translate import (
    AnthropicToOpenAIStream,
    OpenAIToAnthropicStream,
    anthropic_to_openai,
    anthropic_to_openai_response,
    openai_to_anthropic,
    openai_to_anthropic_response,
)


def test_openai_request_to_anthropic() -> None:
    body = {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Look"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "f", "arguments": '{"a": 1}'},
                    },
                    {"id": "c2", "type": "function", "function": {"name": "g", "arguments": "{}"}},
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "one"},
            {"role": "tool", "tool_call_id": "c2", "content": "two"},
        ],
        "max_tokens": 50,
        "temperature": 1.7,
        "stop": "END",
        "user": "u1",
        "tools": [
            {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
        ],
        "tool_choice": "required",
        "parallel_tool_calls": False,
    }
    out, json_by_tool = openai_to_anthropic(body, "claude-x")
    assert not json_by_tool
    assert out["system"] == "Be brief."
    assert out["max_tokens"] == 50 and out["temperature"] == 1.0
    assert out["stop_sequences"] == ["END"] and out["metadata"] == {"user_id": "u1"}
    assert out["messages"][0]["content"][1]["source"] == {
        "type": "base64",
        "media_type": "image/png",
        "data": "AAAA",
    }
    assert [b["id"] for b in out["messages"][1]["content"]] == ["c1", "c2"]
    assert out["messages"][1]["content"][0]["input"] == {"a": 1}
    # Consecutive tool results become one user turn, as Anthropic wants.
    assert [b["tool_use_id"] for b in out["messages"][2]["content"]] == ["c1", "c2"]
    assert out["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}


def test_json_schema_becomes_a_forced_tool_and_back() -> None:
    schema = {"type": "object", "properties": {"x": {"type": "integer"}}}
    out, json_by_tool = openai_to_anthropic(
        {
            "messages": [{"role": "user", "content": "x?"}],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "s", "schema": schema},
            },
        },
        "claude-x",
    )
    assert json_by_tool and out["tools"][0]["input_schema"] == schema
    answer = {
        "id": "msg_1",
        "model": "claude-x",
        "stop_reason": "tool_use",
        "content": [{"type": "tool_use", "id": "t", "name": "json_response", "input": {"x": 3}}],
        "usage": {"input_tokens": 5, "output_tokens": 7, "cache_read_input_tokens": 2},
    }
    openai = anthropic_to_openai_response(answer, json_by_tool=True)
    choice = openai["choices"][0]
    assert json.loads(choice["message"]["content"]) == {"x": 3}
    assert choice["finish_reason"] == "stop" and "tool_calls" not in choice["message"]
    assert openai["usage"]["prompt_tokens"] == 7
    assert openai["usage"]["prompt_tokens_details"] == {"cached_tokens": 2}


def test_anthropic_request_to_openai_and_answer_back() -> None:
    body = {
        "model": "m",
        "max_tokens": 10,
        "system": [{"type": "text", "text": "sys"}],
        "stop_sequences": ["X"],
        "metadata": {"user_id": "u"},
        "tools": [{"name": "f", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "tool", "name": "f"},
        "messages": [
            {"role": "user", "content": "q"},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "calling"},
                    {"type": "tool_use", "id": "t1", "name": "f", "input": {"k": "v"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "t1",
                        "content": [{"type": "text", "text": "r"}],
                    },
                    {"type": "text", "text": "and?"},
                ],
            },
        ],
    }
    out = anthropic_to_openai(body)
    roles = [m["role"] for m in out["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "user"]
    assert out["messages"][2]["tool_calls"][0]["function"]["arguments"] == '{"k": "v"}'
    assert out["messages"][3] == {"role": "tool", "tool_call_id": "t1", "content": "r"}
    assert out["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    assert out["stop"] == ["X"] and out["user"] == "u"
    reply = openai_to_anthropic_response(
        {
            "choices": [
                {
                    "message": {
                        "content": "hi",
                        "tool_calls": [
                            {"id": "c", "function": {"name": "f", "arguments": '{"a":1}'}}
                        ],
                    },
                    "finish_reason": "tool_calls",
                }
            ],
            "usage": {
                "prompt_tokens": 9,
                "completion_tokens": 4,
                "prompt_tokens_details": {"cached_tokens": 3},
            },
        },
        "m",
    )
    assert reply["stop_reason"] == "tool_use"
    assert reply["content"][1] == {"type": "tool_use", "id": "c", "name": "f", "input": {"a": 1}}
    assert reply["usage"]["input_tokens"] == 6 and reply["usage"]["cache_read_input_tokens"] == 3


def test_anthropic_stream_to_openai_chunks() -> None:
    translator = AnthropicToOpenAIStream("claude-x", json_by_tool=False)
    events = [
        {
            "type": "message_start",
            "message": {"id": "m1", "model": "claude-x", "usage": {"input_tokens": 4}},
        },
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
        {"type": "content_block_stop", "index": 0},
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {"type": "tool_use", "id": "t", "name": "f", "input": {}},
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": '{"a"'},
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": ": 1}"},
        },
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use"},
            "usage": {"output_tokens": 6},
        },
        {"type": "message_stop"},
    ]
    chunks = [c for e in events for c in translator.feed(e)]
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert deltas[0] == {"role": "assistant", "content": ""}
    assert deltas[1] == {"content": "Hi"}
    assert deltas[2]["tool_calls"][0]["id"] == "t"
    arguments = "".join(
        d["tool_calls"][0]["function"]["arguments"] for d in deltas[2:] if "tool_calls" in d
    )
    assert json.loads(arguments) == {"a": 1}
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert (
        chunks[-1]["usage"]["prompt_tokens"] == 4 and chunks[-1]["usage"]["completion_tokens"] == 6
    )


def test_openai_chunks_to_anthropic_stream() -> None:
    translator = OpenAIToAnthropicStream("m", input_tokens=3)
    chunks = [
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
        {"choices": [{"index": 0, "delta": {"content": "Hel"}}]},
        {"choices": [{"index": 0, "delta": {"content": "lo"}}]},
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "tool_calls": [
                            {"index": 0, "id": "c", "function": {"name": "f", "arguments": ""}}
                        ]
                    },
                }
            ]
        },
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]},
                }
            ]
        },
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
        {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 5}},
    ]
    events = [e for c in chunks for e in translator.feed(c)] + translator.finish()
    kinds = [e["type"] for e in events]
    assert kinds == [
        "message_start",
        "ping",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert events[6]["content_block"] == {"type": "tool_use", "id": "c", "name": "f", "input": {}}
    assert events[-2]["delta"]["stop_reason"] == "tool_use"
    assert events[-2]["usage"]["output_tokens"] == 5
