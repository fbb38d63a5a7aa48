"""`@step` and `@workflow` compile to the engine's spec; outside a compile they are plain calls."""

from __future__ import annotations

import pytest

from auterity.automatrix.actions.registry import default_registry
from auterity.automatrix.validation import validate
from auterity.sdk import step, workflow

REF = "flows@0123456789abcdef"


@step
def load(path: str) -> dict[str, list[int]]:
    return {"rows": [1, 2, 3]}


@step(retries=2, timeout="5s", retry_on=["timeout"], backoff=0.5)
def total(rows: list[int], scale: int = 1) -> int:
    return sum(rows) * scale


@step
def tick() -> str:
    return "tick"


@workflow
def report(path: str, scale: int = 2) -> dict[str, object]:
    """Sums a file's rows."""
    data = load(path)
    first = tick()
    return {"total": total.after(first)(data["rows"], scale=scale), "again": tick()}


def test_a_workflow_compiles_to_a_valid_spec_with_dependencies_from_its_values() -> None:
    spec = report.compile(REF)
    assert spec["name"] == "report" and spec["description"] == "Sums a file's rows."
    assert spec["inputs"]["required"] == ["path"]
    assert spec["inputs"]["properties"]["scale"] == {
        "default": 2,
        "title": "Scale",
        "type": "integer",
    }
    by_id = {s["id"]: s for s in spec["steps"]}
    assert list(by_id) == ["load", "tick", "total", "tick_2"]
    assert by_id["load"]["with"] == {
        "function": f"{REF}:load",
        "args": {"path": "{{ inputs.path }}"},
    }
    assert by_id["total"]["with"]["args"] == {
        "rows": '{{ steps.load.output["rows"] }}',
        "scale": "{{ inputs.scale }}",
    }
    assert by_id["total"]["needs"] == ["tick"]
    assert by_id["total"]["retry"] == {
        "max_attempts": 3,
        "retry_on": ["timeout"],
        "backoff": {"initial": 0.5},
    }
    assert by_id["total"]["timeout"] == "5s"
    assert spec["outputs"] == {
        "total": "{{ steps.total.output }}",
        "again": "{{ steps.tick_2.output }}",
    }
    report_ = validate(spec, default_registry())
    assert report_.valid, report_.as_dict()
    assert report_.spec is not None
    assert report_.spec.step("total").timeout == 5.0


def test_outside_a_compile_steps_and_workflows_are_plain_functions() -> None:
    assert total([1, 2], scale=3) == 9
    assert report("x.csv") == {"total": 12, "again": "tick"}


def test_branching_on_a_step_result_at_compile_time_is_a_clear_error() -> None:
    @workflow
    def branchy() -> None:
        if load("x"):
            tick()

    with pytest.raises(TypeError, match="not known while the workflow is compiled"):
        branchy.compile(REF)


def test_steps_must_live_at_module_level_and_order_only_after_step_results() -> None:
    with pytest.raises(TypeError, match="module level"):

        @step
        def inner() -> None: ...

    @workflow
    def misordered(path: str) -> None:
        tick.after(path)()

    with pytest.raises(TypeError, match="after\\(\\) takes step results"):
        misordered.compile(REF)


def test_a_workflow_without_steps_is_refused() -> None:
    @workflow
    def empty() -> int:
        return 1

    with pytest.raises(ValueError, match="calls no @step"):
        empty.compile(REF)
