"""A model built on first use, in a worker thread, exactly once however many callers race."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

import anyio.to_thread

T = TypeVar("T")


class LazyLoad(Generic[T]):
    """Holds `build()`'s result, built on the first `get()` without blocking the event loop."""

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._value: T | None = None
        self._lock = threading.Lock()

    async def get(self) -> T:
        if self._value is None:
            return await anyio.to_thread.run_sync(self._build_once)
        return self._value

    def _build_once(self) -> T:
        with self._lock:
            if self._value is None:
                self._value = self._build()
            return self._value
