"""Stop sequences over streamed text: emit what is safe, hold back what may become a stop."""

from __future__ import annotations

from collections.abc import Sequence


class StopScanner:
    """Cuts generated text at the first stop sequence, as OpenAI does, while streaming.

    Text that could still turn into a stop sequence (a suffix that is a prefix of one) is held
    back until the next piece settles it, so a client never sees the start of a stop sequence.
    Because of that hold-back, a stop can never begin inside text already emitted.
    """

    def __init__(self, stops: Sequence[str]) -> None:
        self._stops = tuple(stop for stop in stops if stop)
        self._pending = ""
        self.stopped = False

    def feed(self, text: str) -> str:
        """Take the next piece of text; return what may be emitted now."""
        if self.stopped:
            return ""
        pending = self._pending + text
        found = [index for stop in self._stops if (index := pending.find(stop)) >= 0]
        if found:
            self.stopped = True
            self._pending = ""
            return pending[: min(found)]
        hold = self._held_back(pending)
        self._pending = pending[len(pending) - hold :]
        return pending[: len(pending) - hold]

    def flush(self) -> str:
        """At the end of generation: the held-back text, which never became a stop."""
        rest, self._pending = self._pending, ""
        return "" if self.stopped else rest

    def _held_back(self, text: str) -> int:
        longest = 0
        for stop in self._stops:
            for size in range(min(len(stop) - 1, len(text)), longest, -1):
                if text.endswith(stop[:size]):
                    longest = size
                    break
        return longest
