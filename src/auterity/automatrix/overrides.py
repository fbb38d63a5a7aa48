"""Step parameter overrides: JSON Merge Patches (RFC 7396) over a step's `with`, and the spec
a run really runs once its overrides (kept on the run, see `Run.step_overrides`) are applied.
"""

from __future__ import annotations

from typing import Any

from auterity.automatrix.spec import WorkflowSpec


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396: objects merge key by key, `null` removes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


def patched_document(document: dict[str, Any], overrides: dict[str, dict[str, Any]]) -> Any:
    """`document` (a stored spec) with each overridden step's `with` replaced."""
    if not overrides:
        return document
    steps = [
        {**{k: v for k, v in step.items() if k != "with_"}, "with": overrides[step["id"]]}
        if isinstance(step, dict) and step.get("id") in overrides
        else step
        for step in document.get("steps", [])
    ]
    return {**document, "steps": steps}


def effective_spec(
    document: dict[str, Any], overrides: dict[str, dict[str, Any]] | None
) -> WorkflowSpec:
    """The spec a run executes: its pinned version with the run's overrides applied."""
    return WorkflowSpec.model_validate(patched_document(document, overrides or {}))
