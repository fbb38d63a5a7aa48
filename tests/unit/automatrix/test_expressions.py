from __future__ import annotations

import pytest

from auterity.automatrix.expressions import ExpressionError, Reference, references, render_value

CONTEXT = {
    "inputs": {"x": 4, "name": "Ada"},
    "steps": {"a": {"output": {"value": 5, "items": [1, 2]}}},
}


def test_a_lone_expression_keeps_its_native_type() -> None:
    assert render_value("{{ inputs.x + 1 }}", CONTEXT) == 5
    assert render_value("{{ steps.a.output }}", CONTEXT) == {"value": 5, "items": [1, 2]}
    assert render_value("{{ steps.a.output.items }}", CONTEXT) == [1, 2]
    assert render_value(" {{ inputs.x > 3 }} ", CONTEXT) is True


def test_a_lone_expression_returns_a_string_as_it_is() -> None:
    # Jinja's native rendering would `literal_eval` these into 15558675310, 7 and True.
    context = {"inputs": {"phone": "+15558675310", "code": "007", "flag": "True"}}
    assert render_value("{{ inputs.phone }}", context) == "+15558675310"
    assert render_value("{{ inputs.code }}", context) == "007"
    assert render_value("{{ inputs.flag }}", context) == "True"
    assert render_value("{{ inputs.code ~ '1' }}", context) == "0071"


def test_text_around_expressions_renders_a_string() -> None:
    assert render_value("Hello {{ inputs.name }} ({{ inputs.x }})", CONTEXT) == "Hello Ada (4)"
    assert render_value("{{ inputs.x }}{{ inputs.x }}", CONTEXT) == "44"


def test_rendering_recurses_through_structures() -> None:
    assert render_value({"a": ["{{ inputs.x }}", {"b": "{{ inputs.name }}"}], "c": 3}, CONTEXT) == {
        "a": [4, {"b": "Ada"}],
        "c": 3,
    }


@pytest.mark.parametrize(
    "escape",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ inputs.__class__ }}",
        "{{ inputs.x.__class__.__base__ }}",
        "{{ steps.a.output.items.append(3) }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ lipsum.__globals__['os'] }}",
        "{{ range.__self__ }}",
        "{{ (1).__class__.__subclasses__() }}",
        "{{ self._TemplateReference__context }}",
    ],
)
def test_sandbox_escapes_are_refused(escape: str) -> None:
    with pytest.raises(ExpressionError):
        render_value(escape, CONTEXT)


def test_undefined_names_and_errors_are_expression_errors() -> None:
    with pytest.raises(ExpressionError, match="undefined"):
        render_value("{{ inputs.missing }}", CONTEXT)
    with pytest.raises(ExpressionError, match="ZeroDivisionError"):
        render_value("{{ 1 / 0 }}", CONTEXT)
    with pytest.raises(ExpressionError, match="syntax error"):
        render_value("{{ inputs.x + }}", CONTEXT)


def test_references_find_steps_inputs_and_secrets() -> None:
    found = references(
        {
            "a": "{{ steps.fetch.output.body }}",
            "b": ["{{ secrets.TOKEN }} {{ inputs.id }}"],
            "c": "{{ steps['other'].output }}",
        }
    )
    assert found == {
        Reference("steps", "fetch"),
        Reference("secrets", "TOKEN"),
        Reference("inputs", "id"),
        Reference("steps", "other"),
    }
    assert references("no expressions here") == set()
