"""Moving averages of each deployment's observed latency and time to first token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ALPHA = 0.3  # weight of the newest sample: recent behaviour matters, one outlier fades fast


@dataclass
class LatencyStats:
    latency_ms: float | None = None
    ttft_ms: float | None = None
    samples: int = 0

    def observe(self, latency_ms: float, ttft_ms: float | None) -> None:
        self.samples += 1
        self.latency_ms = _ewma(self.latency_ms, latency_ms)
        if ttft_ms is not None:
            self.ttft_ms = _ewma(self.ttft_ms, ttft_ms)


def _ewma(previous: float | None, sample: float) -> float:
    return sample if previous is None else ALPHA * sample + (1 - ALPHA) * previous


class LatencyTracker:
    def __init__(self) -> None:
        self._stats: dict[str, LatencyStats] = {}

    def observe(self, deployment_id: str, latency_ms: float, ttft_ms: float | None) -> None:
        self._stats.setdefault(deployment_id, LatencyStats()).observe(latency_ms, ttft_ms)

    def expected_ms(self, deployment_id: str, streaming: bool) -> float:
        """What to expect; unmeasured deployments rank first so each gets measured."""
        stats = self._stats.get(deployment_id)
        if stats is None:
            return 0.0
        if streaming and stats.ttft_ms is not None:
            return stats.ttft_ms
        return stats.latency_ms or 0.0

    def snapshot(self, deployment_id: str) -> dict[str, Any]:
        stats = self._stats.get(deployment_id) or LatencyStats()
        return {
            "latency_ms": None if stats.latency_ms is None else round(stats.latency_ms, 2),
            "ttft_ms": None if stats.ttft_ms is None else round(stats.ttft_ms, 2),
            "samples": stats.samples,
        }
