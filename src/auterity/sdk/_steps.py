"""`@step`: a typed function that becomes one workflow step (`python.step`) when a workflow
calls it, and stays a plain function everywhere else."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, ParamSpec, TypeVar, overload

from pydantic import validate_call

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class StepOptions:
    """Retries and timeout of a step: the spec's own `retry` and `timeout`."""

    retries: int = 0
    timeout: float | str | None = None
    retry_on: list[str] = field(default_factory=lambda: ["any"])
    backoff: float = 1.0
    name: str | None = None

    def spec(self) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        if self.retries:
            fields["retry"] = {
                "max_attempts": self.retries + 1,
                "retry_on": list(self.retry_on),
                "backoff": {"initial": self.backoff},
            }
        if self.timeout is not None:
            fields["timeout"] = self.timeout
        if self.name:
            fields["name"] = self.name
        return fields


class Step(Generic[P, R]):
    def __init__(self, fn: Callable[P, R], options: StepOptions) -> None:
        if "<locals>" in fn.__qualname__:
            raise TypeError(f"@step {fn.__qualname__}: steps must be defined at module level")
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.options = options
        # What `python.step` calls: the arguments checked against the type hints.
        self.validated = validate_call(fn)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.after()(*args, **kwargs)

    def after(self, *earlier: Any) -> Callable[P, R]:
        """This step, ordered after `earlier` step results that it does not take as arguments
        (`total.after(cleanup)(rows)`); outside a workflow, the plain function."""
        from auterity.sdk._workflows import current_trace

        def call(*args: P.args, **kwargs: P.kwargs) -> R:
            trace = current_trace()
            if trace is None:
                return self.fn(*args, **kwargs)
            return trace.add(self, args, kwargs, list(earlier))  # type: ignore[return-value]

        return call


@overload
def step(fn: Callable[P, R], /) -> Step[P, R]: ...


@overload
def step(
    *,
    retries: int = 0,
    timeout: float | str | None = None,
    retry_on: list[str] | None = None,
    backoff: float = 1.0,
    name: str | None = None,
) -> Callable[[Callable[P, R]], Step[P, R]]: ...


def step(
    fn: Callable[P, R] | None = None,
    /,
    *,
    retries: int = 0,
    timeout: float | str | None = None,
    retry_on: list[str] | None = None,
    backoff: float = 1.0,
    name: str | None = None,
) -> Step[P, R] | Callable[[Callable[P, R]], Step[P, R]]:
    """Mark a function as a workflow step; `retries` failures are retried (all kinds unless
    `retry_on` names some), each attempt limited to `timeout` (seconds or '30s')."""
    options = StepOptions(retries, timeout, retry_on or ["any"], backoff, name)
    if fn is not None:
        return Step(fn, options)

    def decorate(function: Callable[P, R]) -> Step[P, R]:
        return Step(function, options)

    return decorate
