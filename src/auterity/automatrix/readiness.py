"""When a step may start: its dependencies (fallbacks included) and why it is skipped."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from auterity.automatrix.expressions import ExpressionError, truthy
from auterity.automatrix.graph import StepGraph
from auterity.automatrix.spec import StepSpec, WorkflowSpec
from auterity.automatrix.state import StepState


def effective_dependencies(graph: StepGraph, step_id: str) -> set[str]:
    """The steps `step_id` waits for: its own, their fallbacks, and what it is a fallback of."""
    deps = set(graph.dependencies[step_id])
    for dep in list(deps):
        if dep in graph.fallbacks:
            deps.add(graph.fallbacks[dep])  # wait for a fallback that may stand in for dep
    sources = [src for src, fb in graph.fallbacks.items() if fb == step_id]
    return deps | set(sources)


def skip_reason(
    graph: StepGraph,
    states: Mapping[str, StepState],
    step: StepSpec,
    deps: set[str],
    context: Callable[[], dict[str, Any]],
) -> str | None:
    """Why the step is skipped, or None when it should run (its dependencies have finished)."""
    sources = [src for src, fb in graph.fallbacks.items() if fb == step.id]
    if sources and not any(states[s].status == "failed" for s in sources):
        return f"fallback of {', '.join(sources)}, which did not fail"
    fallbacks = graph.fallback_steps
    skipped = [d for d in deps if states[d].status == "skipped" and d not in fallbacks]
    if skipped and not step.if_:
        return f"depends on skipped step(s) {', '.join(sorted(skipped))}"
    if step.if_:
        try:
            if not truthy(step.if_, context()):
                return f"condition {step.if_!r} is false"
        except ExpressionError as exc:
            return f"condition {step.if_!r} could not be evaluated: {exc}"
    return None


def terminal_failure(spec: WorkflowSpec, states: Mapping[str, StepState]) -> dict[str, Any] | None:
    """The run's error when a step failed with `on_error: fail` (the run fails), else None."""
    for step in spec.steps:
        state = states[step.id]
        if state.status == "failed" and step.on_error == "fail":
            return {
                "kind": "step_failed",
                "step": step.id,
                "message": f"Step {step.id!r} failed: "
                f"{(state.error or {}).get('message', 'unknown error')}",
            }
    return None
