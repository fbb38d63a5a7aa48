"""Circuit breakers, one per provider deployment, and the Retry-After holds providers ask for.

Closed: calls pass and failures within `window` seconds are counted; at `threshold` the
breaker opens and the deployment is skipped. After `cooldown` one probe call is let through
(half-open): success closes the breaker, failure opens it again for another cool-down.
Time comes from the platform clock, so tests move it instead of sleeping.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from auterity.core.clock import utcnow
from auterity.relaycore.metrics import set_breaker_state


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


def platform_time() -> float:
    return utcnow().timestamp()


@dataclass
class CircuitBreaker:
    threshold: int
    window: float
    cooldown: float
    state: BreakerState = BreakerState.CLOSED
    failures: deque[float] = field(default_factory=deque)
    opened_at: float = 0.0
    probing: bool = False
    held_until: float = 0.0  # the provider's Retry-After
    total_failures: int = 0
    total_successes: int = 0
    # (provider, upstream model): the labels of the `relay_circuit_breaker_state` gauge.
    labels: tuple[str, str] | None = None

    def _enter(self, state: BreakerState) -> None:
        if state is not self.state:
            self.state = state
            if self.labels is not None:
                set_breaker_state(*self.labels, state.value)

    def allow(self, now: float) -> bool:
        """Whether a call may go to this deployment now (claims the probe when half-open)."""
        if now < self.held_until:
            return False
        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.OPEN:
            if now - self.opened_at < self.cooldown:
                return False
            self._enter(BreakerState.HALF_OPEN)
            self.probing = False
        if self.probing:
            return False
        self.probing = True
        return True

    def success(self) -> None:
        self.total_successes += 1
        self._enter(BreakerState.CLOSED)
        self.failures.clear()
        self.probing = False

    def failure(self, now: float) -> None:
        self.total_failures += 1
        if self.state is BreakerState.HALF_OPEN:
            self._open(now)
            return
        self.failures.append(now)
        while self.failures and now - self.failures[0] > self.window:
            self.failures.popleft()
        if len(self.failures) >= self.threshold:
            self._open(now)

    def release(self) -> None:
        """A claimed probe ended without a verdict (the client went away): let another try."""
        self.probing = False

    def hold(self, until: float) -> None:
        self.held_until = max(self.held_until, until)

    def _open(self, now: float) -> None:
        self._enter(BreakerState.OPEN)
        self.opened_at = now
        self.probing = False
        self.failures.clear()

    def snapshot(self, now: float) -> dict[str, Any]:
        state = self.state
        if state is BreakerState.OPEN and now - self.opened_at >= self.cooldown:
            state = BreakerState.HALF_OPEN  # the next call will be the probe
        return {
            "state": state.value,
            "recent_failures": len(self.failures),
            "opened_at": self.opened_at if self.state is not BreakerState.CLOSED else None,
            "retry_after_until": self.held_until if self.held_until > now else None,
            "failures": self.total_failures,
            "successes": self.total_successes,
        }


class Breakers:
    """The breakers of every deployment this process has called."""

    def __init__(
        self,
        threshold: int,
        window: float,
        cooldown: float,
        now: Callable[[], float] = platform_time,
    ) -> None:
        self.threshold = threshold
        self.window = window
        self.cooldown = cooldown
        self.now = now
        self._breakers: dict[str, CircuitBreaker] = {}

    def get(self, deployment_id: str) -> CircuitBreaker:
        breaker = self._breakers.get(deployment_id)
        if breaker is None:
            provider, _, model = deployment_id.partition(":")
            breaker = CircuitBreaker(
                self.threshold, self.window, self.cooldown, labels=(provider, model)
            )
            self._breakers[deployment_id] = breaker
        return breaker

    def snapshot(self, deployment_id: str) -> dict[str, Any]:
        return self.get(deployment_id).snapshot(self.now())
