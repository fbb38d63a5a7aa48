"""Structural diffs: what changed between two template versions, or two workflow specs.

Steps are matched by id, parameters and outputs by name, so a reordering is not a change and
a renamed step shows as one removed and one added.
"""

from __future__ import annotations

from typing import Any

_STEP_FIELDS_ORDER = ("uses", "with", "needs", "if", "retry", "timeout", "on_error", "for_each")


def _keyed(items: Any, key: str) -> dict[str, Any]:
    if not isinstance(items, list):
        return {}
    return {str(item[key]): item for item in items if isinstance(item, dict) and key in item}


def _changes(old: dict[str, Any], new: dict[str, Any]) -> dict[str, dict[str, Any]]:
    fields = sorted(set(old) | set(new), key=lambda f: (_order(f), f))
    return {
        field: {"from": old.get(field), "to": new.get(field)}
        for field in fields
        if old.get(field) != new.get(field)
    }


def _order(field: str) -> int:
    return (
        _STEP_FIELDS_ORDER.index(field) if field in _STEP_FIELDS_ORDER else len(_STEP_FIELDS_ORDER)
    )


def _section(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    added = [name for name in new if name not in old]
    removed = [name for name in old if name not in new]
    changed: dict[str, Any] = {}
    for name in old:
        if name in new and old[name] != new[name]:
            both_dicts = isinstance(old[name], dict) and isinstance(new[name], dict)
            changed[name] = (
                _changes(old[name], new[name])
                if both_dicts
                else {"from": old[name], "to": new[name]}
            )
    return {"added": added, "removed": removed, "changed": changed}


def workflow_diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Steps (by id), outputs and the other top-level fields of two workflow specs."""
    steps = _section(_keyed(old.get("steps"), "id"), _keyed(new.get("steps"), "id"))
    for changes in steps["changed"].values():
        changes.pop("id", None)
    outputs = _section(old.get("outputs") or {}, new.get("outputs") or {})
    rest = {k: v for k, v in old.items() if k not in ("steps", "outputs")}
    rest_new = {k: v for k, v in new.items() if k not in ("steps", "outputs")}
    return {"steps": steps, "outputs": outputs, "fields": _changes(rest, rest_new)}


def template_diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Parameters (by name, and which are required), the workflow, and the metadata."""
    old_params, new_params = old.get("parameters") or {}, new.get("parameters") or {}
    parameters = _section(old_params.get("properties") or {}, new_params.get("properties") or {})
    old_required, new_required = (
        set(old_params.get("required") or []),
        set(new_params.get("required") or []),
    )
    parameters["now_required"] = sorted(new_required - old_required)
    parameters["no_longer_required"] = sorted(old_required - new_required)
    meta = {k: old.get(k) for k in ("name", "description", "category", "tags")}
    meta_new = {k: new.get(k) for k in ("name", "description", "category", "tags")}
    return {
        "parameters": parameters,
        "workflow": workflow_diff(old.get("workflow") or {}, new.get("workflow") or {}),
        "metadata": _changes(meta, meta_new),
        "tests": {
            "from": len(old.get("tests") or []),
            "to": len(new.get("tests") or []),
        },
    }


def is_empty(diff: dict[str, Any]) -> bool:
    """True when a diff records no change at all."""
    if isinstance(diff, dict):
        if set(diff) == {"from", "to"}:
            return bool(diff["from"] == diff["to"])
        return all(is_empty(value) for value in diff.values())
    if isinstance(diff, list):
        return not diff
    return True
