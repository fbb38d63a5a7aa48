"""Filling template parameters, and the structural diff."""

from __future__ import annotations

import pytest

from auterity.automatrix.templates.diff import is_empty, template_diff, workflow_diff
from auterity.automatrix.templates.params import fill, resolve_values
from auterity.core.errors import ValidationFailed

SCHEMA = {
    "type": "object",
    "properties": {
        "count": {"type": "integer", "default": 3},
        "names": {"type": "array", "items": {"type": "string"}},
        "token": {"type": "string", "format": "secret"},
        "greeting": {"type": "string", "enum": ["hi", "hello"]},
    },
    "required": ["names", "token"],
}


def test_lone_blocks_keep_their_type_and_text_blocks_mix_with_run_time_ones() -> None:
    values = resolve_values(SCHEMA, {"names": ["a", "b"], "token": "API_TOKEN", "greeting": "hi"})
    assert values["count"] == 3  # the default applies
    filled = fill(
        SCHEMA,
        {
            "count": "{{ params.count }}",
            "double": "{{ params.count * 2 }}",
            "names": "{{ params.names }}",
            "text": "{{ params.greeting }}, {{ inputs.who }}! ({{ params.names | length }})",
            "auth": "Bearer {{ params.token }}",
            "lone_secret": "{{ params.token }}",
            "untouched": "{{ steps.a.output }}",
            "nested": [{"deep": "{{ params.greeting | upper }}"}],
        },
        values,
    )
    assert filled == {
        "count": 3,
        "double": 6,
        "names": ["a", "b"],
        "text": "hi, {{ inputs.who }}! (2)",
        "auth": "Bearer {{ secrets.API_TOKEN }}",
        "lone_secret": "{{ secrets.API_TOKEN }}",
        "untouched": "{{ steps.a.output }}",
        "nested": [{"deep": "HI"}],
    }


@pytest.mark.parametrize(
    ("values", "pointer", "words"),
    [
        ({"token": "T"}, "/parameters/names", "required"),
        ({"names": "a", "token": "T"}, "/parameters/names", "not of type 'array'"),
        ({"names": [], "token": "sk_live_1"}, "/parameters/token", "not a secret name"),
        ({"names": [], "token": "T", "greeting": "yo"}, "/parameters/greeting", "is not one of"),
        ({"names": [], "token": "T", "colour": 1}, "/parameters/colour", "unknown parameter"),
        ({"names": ["{{ secrets.X }}"], "token": "T"}, "/parameters/names", "cannot contain"),
    ],
)
def test_bad_values_are_named(values: dict[str, object], pointer: str, words: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        resolve_values(SCHEMA, values)
    assert any(e.pointer == pointer and words in e.message for e in caught.value.errors), [
        (e.pointer, e.message) for e in caught.value.errors
    ]


def test_diff_matches_steps_by_id_and_ignores_order() -> None:
    old = {
        "name": "w",
        "steps": [{"id": "a", "uses": "log", "with": {"message": "x"}}, {"id": "b", "uses": "log"}],
        "outputs": {"o": "1"},
    }
    reordered = {**old, "steps": list(reversed(old["steps"]))}
    assert is_empty(workflow_diff(old, reordered))
    new = {
        "name": "w2",
        "steps": [{"id": "a", "uses": "log", "with": {"message": "y"}}, {"id": "c", "uses": "log"}],
        "outputs": {"o": "1", "p": "2"},
    }
    diff = workflow_diff(old, new)
    assert diff["steps"]["added"] == ["c"] and diff["steps"]["removed"] == ["b"]
    assert diff["steps"]["changed"] == {
        "a": {"with": {"from": {"message": "x"}, "to": {"message": "y"}}}
    }
    assert diff["outputs"]["added"] == ["p"]
    assert diff["fields"] == {"name": {"from": "w", "to": "w2"}}
    assert not is_empty(diff)


def test_template_diff_reports_parameter_changes() -> None:
    old = {"parameters": SCHEMA, "workflow": {"steps": []}}
    changed_schema = {
        **SCHEMA,
        "properties": {**SCHEMA["properties"], "count": {"type": "integer", "default": 5}},
        "required": ["names"],
    }
    diff = template_diff(old, {"parameters": changed_schema, "workflow": {"steps": []}})
    assert diff["parameters"]["changed"] == {"count": {"default": {"from": 3, "to": 5}}}
    assert diff["parameters"]["no_longer_required"] == ["token"]
