"""How hard a prompt is, from 0 (trivial) to 1 (hard), for difficulty-based routing.

`DifficultyScorer` is the interface; `HeuristicScorer` is the first implementation. The
NeuroWeaver-trained router, learnt from usage records, replaces it through the same interface
(`RelayGateway.scorer`).
"""

from __future__ import annotations

import math
import re
from typing import Any, Protocol

from auterity.relaycore.tokens import message_text

_REASONING = re.compile(
    r"\b(prove|proof|derive|theorem|step[- ]by[- ]step|analy[sz]e|optimi[sz]e|algorithm|"
    r"complexity|debug|refactor|architecture|design|trade-?offs?|compare|why|explain|"
    r"evaluate|plan|strategy|calculate|solve|reason)\b",
    re.IGNORECASE,
)
_CODE = re.compile(r"```|\bdef |\bclass |\bfunction\b|;\s*$|\{\s*$", re.MULTILINE)


class DifficultyScorer(Protocol):
    def score(self, request: dict[str, Any]) -> float:
        """The difficulty of an OpenAI-shaped chat request, in [0, 1]."""
        ...


class HeuristicScorer:
    """Length, reasoning vocabulary, code, tools, structured output and conversation depth."""

    def score(self, request: dict[str, Any]) -> float:
        messages = request.get("messages") or []
        text = "\n".join(message_text(m) for m in messages if isinstance(m, dict))
        words = max(1, len(text.split()))
        # 0 at ~30 words, 1 at ~3,000.
        length = min(1.0, max(0.0, (math.log10(words) - 1.5) / 2))
        reasoning = min(1.0, len(_REASONING.findall(text)) / 4)
        code = 1.0 if _CODE.search(text) else 0.0
        structured = 1.0 if request.get("tools") or _wants_schema(request) else 0.0
        depth = min(1.0, len(messages) / 20)
        score = 0.35 * length + 0.35 * reasoning + 0.15 * code + 0.1 * structured + 0.05 * depth
        return round(min(1.0, score), 3)


def _wants_schema(request: dict[str, Any]) -> bool:
    return (request.get("response_format") or {}).get("type") == "json_schema"
