from __future__ import annotations

from typing import Any

import pytest

from auterity.core.errors import ValidationFailed
from auterity.relaycore.local.request import (
    DEFAULT_TEMPERATURE,
    DEFAULT_TOP_P,
    parse_chat_request,
)

USER = {"role": "user", "content": "Hi"}


def pointers(body: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationFailed) as caught:
        parse_chat_request(body)
    return [error.pointer for error in caught.value.errors]


def test_a_minimal_body_gets_the_model_card_sampling_defaults() -> None:
    params = parse_chat_request({"model": "local", "messages": [USER]})
    assert params.messages == [{"role": "user", "content": "Hi"}]
    assert (params.temperature, params.top_p) == (DEFAULT_TEMPERATURE, DEFAULT_TOP_P)
    assert (params.n, params.max_tokens, params.stop, params.seed) == (1, None, (), None)
    assert params.json_schema is None and not params.json_mode and not params.include_usage


def test_openai_fields_are_read() -> None:
    params = parse_chat_request(
        {
            "messages": [
                {"role": "developer", "content": "Be brief."},
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
                },
                {"role": "assistant", "content": None},
            ],
            "max_tokens": 50,
            "max_completion_tokens": 20,
            "temperature": 0,
            "top_p": 0.5,
            "stop": "\n",
            "seed": 7,
            "n": 3,
            "stream_options": {"include_usage": True},
            "presence_penalty": 0.5,
            "frequency_penalty": -0.5,
            "user": "someone",
            "metadata": {"k": "v"},
        }
    )
    assert params.messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "ab"},
        {"role": "assistant", "content": ""},
    ]
    # max_completion_tokens is the newer name and wins over max_tokens.
    assert params.max_tokens == 20
    assert (params.temperature, params.top_p, params.stop) == (0, 0.5, ("\n",))
    assert (params.seed, params.n, params.include_usage) == (7, 3, True)
    assert (params.presence_penalty, params.frequency_penalty) == (0.5, -0.5)


def test_response_formats() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    params = parse_chat_request(
        {
            "messages": [USER],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "thing", "schema": schema, "strict": True},
            },
        }
    )
    assert params.json_schema == schema and params.json_mode
    params = parse_chat_request({"messages": [USER], "response_format": {"type": "json_object"}})
    assert params.json_schema is None and params.json_mode
    params = parse_chat_request({"messages": [USER], "response_format": {"type": "text"}})
    assert not params.json_mode


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"messages": []}, "/messages"),
        ({}, "/messages"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "/messages/0/role"),
        ({"messages": [USER], "temperature": 3}, "/temperature"),
        ({"messages": [USER], "max_tokens": 0}, "/max_tokens"),
        ({"messages": [USER], "n": 99}, "/n"),
        ({"messages": [USER], "stop": ["a", "b", "c", "d", "e"]}, "/stop"),
        ({"messages": [USER], "response_format": {"type": "xml"}}, "/response_format/type"),
        (
            {"messages": [USER], "response_format": {"type": "json_schema"}},
            "/response_format/json_schema",
        ),
    ],
)
def test_invalid_values_are_refused_with_a_pointer(body: dict[str, Any], pointer: str) -> None:
    assert pointer in pointers(body)


def test_an_image_part_is_refused() -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    found = pointers({"messages": [{"role": "user", "content": [image]}]})
    assert any(pointer.startswith("/messages/0/content") for pointer in found)


def test_tools_are_refused_rather_than_ignored() -> None:
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    assert pointers({"messages": [USER], "tools": [tool]}) == ["/tools"]
    assert pointers(
        {"messages": [USER, {"role": "tool", "content": "1", "tool_call_id": "c"}]}
    ) == ["/messages/1/role"]
    assert pointers({"messages": [USER], "logprobs": True}) == ["/logprobs"]
    # tool_choice "none" means the tools are only context the model may not call: allowed.
    assert parse_chat_request({"messages": [USER], "tools": [tool], "tool_choice": "none"}).n == 1
