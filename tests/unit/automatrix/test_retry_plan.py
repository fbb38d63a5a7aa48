"""Which steps a retry reuses: only results whose whole upstream is reused too."""

from __future__ import annotations

import yaml

from auterity.automatrix.overrides import merge_patch
from auterity.automatrix.retry import plan_retry
from auterity.automatrix.spec import WorkflowSpec


def spec(text: str) -> WorkflowSpec:
    return WorkflowSpec.model_validate(yaml.safe_load(text))


DIAMOND = spec("""
name: diamond
steps:
  - {id: a, uses: transform}
  - {id: b, uses: transform, needs: [a]}
  - {id: c, uses: transform, needs: [a]}
  - {id: d, uses: transform, with: {value: "{{ steps.b.output.value }}"}, needs: [c]}
  - {id: e, uses: transform}
""")


def test_the_failed_step_and_what_follows_it_run_again() -> None:
    statuses = {
        "a": "succeeded",
        "b": "succeeded",
        "c": "failed",
        "d": "cancelled",
        "e": "cancelled",
    }
    plan = plan_retry(DIAMOND, statuses, {"c"})
    assert plan.reused == ("a", "b")
    assert plan.rerun == ("c", "d", "e")  # e was cancelled by the failure: it runs too
    assert plan.restart_from == ("c",)


def test_restarting_from_a_step_reruns_its_downstream_even_when_it_succeeded() -> None:
    statuses = dict.fromkeys("abcde", "succeeded")
    assert plan_retry(DIAMOND, statuses, {"b"}).rerun == ("b", "d")
    assert plan_retry(DIAMOND, statuses, {"a"}).reused == ("e",)
    assert plan_retry(DIAMOND, statuses, set()).rerun == ()


def test_a_fallback_is_decided_again_when_its_source_reruns() -> None:
    workflow = spec("""
name: fallback
steps:
  - {id: primary, uses: fail, on_error: backup}
  - {id: backup, uses: transform}
  - {id: use, uses: transform, with: {value: "{{ steps.backup.output.value }}"}}
  - {id: other, uses: transform}
""")
    statuses = {"primary": "failed", "backup": "succeeded", "use": "failed", "other": "succeeded"}
    plan = plan_retry(workflow, statuses, {"primary"})
    assert plan.rerun == ("primary", "backup", "use") and plan.reused == ("other",)


def test_merge_patch_follows_rfc_7396() -> None:
    target = {"a": 1, "b": {"c": 2, "d": 3}, "e": [1]}
    patch = {"a": None, "b": {"c": 4}, "e": [2], "f": {"g": None}}
    assert merge_patch(target, patch) == {"b": {"c": 4, "d": 3}, "e": [2], "f": {}}
    assert target == {"a": 1, "b": {"c": 2, "d": 3}, "e": [1]}  # unchanged
    assert merge_patch({"a": 1}, "x") == "x"
