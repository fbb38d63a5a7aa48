"""When a failed delivery is tried again: exponential backoff with jitter, from tenacity.

After attempt n fails the wait is min(max, initial * 2**(n-1) + uniform(0, initial))
(tenacity's `wait_exponential_jitter`, the schedule Google Cloud documents for its own
retries): it grows fast, never reaches zero, and the jitter keeps the subscribers of many
events that failed together from all coming back at the same moment.
"""

from __future__ import annotations

from datetime import timedelta

from tenacity import RetryCallState, Retrying, wait_exponential_jitter

from auterity.core.settings import Settings


class RetrySchedule:
    def __init__(self, initial_seconds: float, max_seconds: float) -> None:
        self.wait = wait_exponential_jitter(
            multiplier=initial_seconds, max=max_seconds, jitter=initial_seconds
        )
        self._retrying = Retrying(wait=self.wait)

    @classmethod
    def from_settings(cls, settings: Settings) -> RetrySchedule:
        return cls(settings.events_retry_initial_seconds, settings.events_retry_max_seconds)

    def after(self, attempt: int) -> timedelta:
        """The wait after attempt number `attempt` (1 for the first) failed."""
        state = RetryCallState(self._retrying, fn=None, args=(), kwargs={})
        state.attempt_number = attempt
        return timedelta(seconds=self.wait(state))
