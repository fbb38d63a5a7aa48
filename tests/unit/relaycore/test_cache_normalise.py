"""The exact cache's key: what makes two requests the same, and what keeps them apart."""

from __future__ import annotations

from typing import Any

from auterity.relaycore.cache import fingerprint, normalise

BASE: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "Hello"}],
    "max_tokens": 50,
}


def test_key_order_defaults_delivery_and_caller_fields_do_not_matter() -> None:
    same = {
        "max_completion_tokens": 50,
        "messages": [{"content": [{"type": "text", "text": "Hello"}], "role": "user"}],
        "model": "gpt-4o-mini",
        "temperature": 1,
        "top_p": 1,
        "n": 1,
        "stream": True,
        "stream_options": {"include_usage": True},
        "user": "alice",
        "metadata": {"trace": "x"},
        "tools": [],
        "stop": None,
    }
    assert fingerprint(same) == fingerprint(BASE)


def test_anything_that_changes_the_answer_changes_the_key() -> None:
    variants = [
        {**BASE, "model": "gpt-4o"},
        {**BASE, "messages": [{"role": "user", "content": "Hello!"}]},
        {**BASE, "messages": [{"role": "system", "content": "Hello"}]},
        {**BASE, "temperature": 0},
        {**BASE, "max_tokens": 51},
        {**BASE, "n": 2},
        {**BASE, "stop": "\n"},
        {**BASE, "response_format": {"type": "json_object"}},
        {**BASE, "tools": [{"type": "function", "function": {"name": "f"}}]},
        {**BASE, "seed": 7},
    ]
    keys = {fingerprint(variant) for variant in variants}
    assert len(keys) == len(variants)
    assert fingerprint(BASE) not in keys


def test_a_stop_string_is_a_one_item_list() -> None:
    assert normalise({**BASE, "stop": "x"})["stop"] == ["x"]
    assert fingerprint({**BASE, "stop": "x"}) == fingerprint({**BASE, "stop": ["x"]})


def test_embedding_input_string_is_a_one_item_list() -> None:
    one = {"model": "local/all-minilm-l6-v2", "input": "hi", "encoding_format": "float"}
    assert fingerprint(one) == fingerprint({"model": "local/all-minilm-l6-v2", "input": ["hi"]})
