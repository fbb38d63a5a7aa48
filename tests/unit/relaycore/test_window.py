"""The conversation window planner: what is sent, folded or dropped, per model's window."""

from __future__ import annotations

import uuid

import pytest

from auterity.relaycore.errors import ContextLengthExceeded
from auterity.relaycore.llm.window import Entry, Limit, Plan, Strategy, plan_window, turns
from auterity.relaycore.tokens import clip_text, count_messages, count_text


def entry(role: str, content: str, position: int = 0) -> Entry:
    return Entry(uuid.uuid4(), role, content, position)


def history(n: int, size: int = 20) -> list[Entry]:
    out = []
    for turn in range(n):
        out.append(entry("user", " ".join(["ask"] * size), 2 * turn + 1))
        out.append(entry("assistant", " ".join(["answer"] * size), 2 * turn + 2))
    return out


def plan(
    limits: list[Limit], strategy: Strategy = "drop", items: list[Entry] | None = None
) -> Plan:
    return plan_window(
        system="Be brief.",
        history=items if items is not None else history(4),
        user="next",
        limits=limits,
        reply_tokens=20,
        strategy=strategy,
        summary_tokens=30,
    )


def test_everything_fits_in_a_large_window() -> None:
    items = history(4)
    result = plan([Limit("big", 10_000, "o200k")], items=items)
    assert result.keep == items and not result.drop and not result.fold


def test_drop_leaves_whole_oldest_turns_and_the_rest_fits() -> None:
    items = history(4)
    result = plan([Limit("small", 150, "o200k")], items=items)
    kept, dropped = result.keep, result.drop
    assert dropped == items[: len(dropped)] and kept == items[len(dropped) :]
    assert len(dropped) % 2 == 0 and kept[0].role == "user"
    sent = result.messages("Be brief.", "next")
    assert sent[0] == {"role": "system", "content": "Be brief."}
    assert sent[-1] == {"role": "user", "content": "next"}
    assert count_messages(sent) + 20 <= 150


def test_every_candidate_window_and_tokenizer_counts() -> None:
    items = history(4)
    wide = plan([Limit("a", 400, "o200k")], items=items)
    both = plan([Limit("a", 400, "o200k"), Limit("b", 200, "estimate")], items=items)
    assert len(both.keep) < len(wide.keep)
    sent = both.messages("Be brief.", "next")
    assert count_messages(sent, tokenizer="estimate") + 20 <= 200


def test_summarize_folds_the_old_summary_and_oldest_turns() -> None:
    items = [entry("summary", "earlier things"), *history(4)]
    result = plan([Limit("small", 200, "o200k")], "summarize", items)
    assert result.fold[0].role == "summary"
    assert result.fold[1:] == items[1 : len(result.fold)]
    assert not result.drop
    summary = entry("summary", " ".join(["gist"] * 30))
    sent = result.messages("Be brief.", "next", summary)
    assert sent[1]["content"].startswith("Summary of the earlier conversation:")
    assert count_messages(sent) + 20 <= 200


def test_no_room_for_a_summary_falls_back_to_dropping() -> None:
    result = plan([Limit("tiny", 70, "o200k")], "summarize")
    assert not result.fold and result.drop and result.keep == []


def test_a_message_that_cannot_fit_is_refused_naming_the_model() -> None:
    with pytest.raises(ContextLengthExceeded, match="'tiny' has a window of 30"):
        plan([Limit("tiny", 30, "o200k")])


def test_turns_cut_before_each_user_message() -> None:
    items = [entry("assistant", "orphan"), *history(2)]
    assert [len(t) for t in turns(items)] == [1, 2, 2]


@pytest.mark.parametrize("tokenizer", ["o200k", "estimate"])
def test_clip_text_keeps_a_prefix_within_the_limit(tokenizer: str) -> None:
    text = "word " * 100 + "héllo wörld"
    clipped = clip_text(text, 17, tokenizer)
    assert text.startswith(clipped) and count_text(clipped, tokenizer) <= 17
    assert clip_text("short", 17, tokenizer) == "short"
