"""Cost arithmetic in integer micro-dollars: prices per 1M tokens times token counts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from auterity.relaycore.catalog import MICROS, Price


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens of one answer; `cached_tokens` is the part of `prompt_tokens` served from cache."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @classmethod
    def from_openai(cls, usage: dict[str, Any] | None) -> Usage | None:
        """From an OpenAI `usage` object; None when the answer carried none."""
        if not usage:
            return None
        details = usage.get("prompt_tokens_details") or {}
        return cls(
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            cached_tokens=int(details.get("cached_tokens") or 0),
        )

    def as_openai(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
            "prompt_tokens_details": {"cached_tokens": self.cached_tokens},
        }


def cost_micros(price: Price, usage: Usage) -> int:
    """The cost of `usage` at `price`, rounded half up to a whole micro-dollar once, at the end."""
    cached = min(usage.cached_tokens, usage.prompt_tokens)
    scaled = (
        (usage.prompt_tokens - cached) * price.input
        + cached * price.cached_input
        + usage.completion_tokens * price.output
    )
    return (scaled + MICROS // 2) // MICROS


def format_usd(micros: int) -> str:
    """Micro-dollars as a dollar string with six decimals (`0.000150`), no float rounding."""
    sign = "-" if micros < 0 else ""
    whole, fraction = divmod(abs(micros), MICROS)
    return f"{sign}{whole}.{fraction:06d}"
