"""The context window of a conversation turn: which stored messages are sent, which go.

Pure arithmetic, no I/O. The system prompt and the new user message are always sent, and room
is kept for the reply (`reply_tokens`). Older history goes whole turns at a time (a user
message and the answers after it), oldest first, until what is left fits every candidate
model's window, each counted with that model's tokenizer (the gateway may fail over to any
of them). `drop` leaves the oldest turns out; `summarize` folds them, with any earlier
summary, into one new summary, for which room (`summary_tokens`) is kept.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from auterity.relaycore.errors import ContextLengthExceeded
from auterity.relaycore.tokens import REPLY_PRIMER, TOKENS_PER_MESSAGE, count_text

Strategy = Literal["summarize", "drop"]
SUMMARY_PREFIX = "Summary of the earlier conversation:\n"


@dataclass(frozen=True, slots=True)
class Limit:
    """One candidate model's window, and how that model counts tokens."""

    model: str
    window: int
    tokenizer: str


@dataclass(frozen=True, slots=True)
class Entry:
    """One stored message that may be sent: a user turn, an answer, or a summary."""

    id: uuid.UUID
    role: str  # user | assistant | summary
    content: str
    position: int = 0

    def as_chat(self) -> dict[str, Any]:
        if self.role == "summary":
            return {"role": "system", "content": SUMMARY_PREFIX + self.content}
        return {"role": self.role, "content": self.content}


@dataclass
class Plan:
    keep: list[Entry]  # sent, oldest first (an earlier summary first when it stays)
    fold: list[Entry] = field(default_factory=list)  # to summarise into one new summary
    drop: list[Entry] = field(default_factory=list)  # left out

    def messages(
        self, system: str | None, user: str, summary: Entry | None = None
    ) -> list[dict[str, Any]]:
        """The chat request's messages: system prompt, summary, kept history, the new turn."""
        sent: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
        if summary is not None:
            sent.append(summary.as_chat())
        sent.extend(entry.as_chat() for entry in self.keep)
        sent.append({"role": "user", "content": user})
        return sent


def message_tokens(message: dict[str, Any], tokenizer: str) -> int:
    return TOKENS_PER_MESSAGE + count_text(str(message.get("content") or ""), tokenizer)


def turns(history: Sequence[Entry]) -> list[list[Entry]]:
    """History cut before each user message, so a turn leaves with its answers."""
    grouped: list[list[Entry]] = []
    for entry in history:
        if entry.role == "user" or not grouped:
            grouped.append([])
        grouped[-1].append(entry)
    return grouped


def plan_window(
    *,
    system: str | None,
    history: Sequence[Entry],
    user: str,
    limits: Sequence[Limit],
    reply_tokens: int,
    strategy: Strategy,
    summary_tokens: int,
) -> Plan:
    """Which of `history` (active messages, oldest first) to send, fold or drop."""
    fixed = [{"role": "system", "content": system}] if system else []
    fixed.append({"role": "user", "content": user})
    room = {
        limit: limit.window
        - reply_tokens
        - REPLY_PRIMER
        - sum(message_tokens(m, limit.tokenizer) for m in fixed)
        for limit in limits
    }
    tight = min(limits, key=lambda limit: room[limit])
    if room[tight] < 0:
        needed = tight.window - room[tight]
        raise ContextLengthExceeded(
            f"The system prompt and this message with {reply_tokens} tokens kept for the "
            f"reply need {needed} tokens; the model {tight.model!r} has a window of "
            f"{tight.window}. Send a shorter message or lower max_tokens.",
            param="content",
        )

    counted: dict[tuple[uuid.UUID, str], int] = {}

    def tokens(entry: Entry, tokenizer: str) -> int:
        key = (entry.id, tokenizer)
        if key not in counted:
            counted[key] = message_tokens(entry.as_chat(), tokenizer)
        return counted[key]

    def fits(entries: Iterable[Entry], spare: dict[Limit, int]) -> bool:
        kept = list(entries)
        return all(
            sum(tokens(entry, limit.tokenizer) for entry in kept) <= spare[limit]
            for limit in limits
        )

    if fits(history, room):
        return Plan(keep=list(history))
    summary = [e for e in history[:1] if e.role == "summary"]
    grouped = turns(history[len(summary) :])
    if strategy == "summarize":
        slot = {
            limit: room[limit]
            - TOKENS_PER_MESSAGE
            - count_text(SUMMARY_PREFIX, limit.tokenizer)
            - summary_tokens
            for limit in limits
        }
        if min(slot.values()) >= 0:
            kept = _longest_fitting_suffix(grouped, lambda entries: fits(entries, slot))
            folded = [e for turn in grouped[: len(grouped) - len(kept)] for e in turn]
            return Plan(keep=_flat(kept), fold=summary + folded)
        # No room for even a summary next to this message: fall back to dropping.
    kept = _longest_fitting_suffix(grouped, lambda entries: fits(entries, room))
    dropped = [e for turn in grouped[: len(grouped) - len(kept)] for e in turn]
    return Plan(keep=_flat(kept), drop=summary + dropped)


def _flat(grouped: Sequence[Sequence[Entry]]) -> list[Entry]:
    return [entry for turn in grouped for entry in turn]


def _longest_fitting_suffix(
    grouped: list[list[Entry]], fits: Callable[[list[Entry]], bool]
) -> list[list[Entry]]:
    # Newest turns first: stop at the first start that fits.
    for start in range(len(grouped) + 1):
        if fits(_flat(grouped[start:])):
            return grouped[start:]
    return []
