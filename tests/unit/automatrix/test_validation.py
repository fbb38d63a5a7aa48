from __future__ import annotations

import yaml

from auterity.automatrix.actions.registry import default_registry
from auterity.automatrix.validation import validate


def check(text: str) -> dict[str, tuple[str, str | None]]:
    report = validate(yaml.safe_load(text), default_registry())
    return {error.pointer: (error.message, error.hint) for error in report.errors}


def test_all_problems_are_reported_at_once_with_pointers_and_hints() -> None:
    errors = check("""
name: many
steps:
  - {id: a, uses: transfrom, with: {value: "{{ steps.zz.output }}"}}
  - {id: b, uses: delay, with: {secs: 1}, needs: [a, nope]}
  - {id: b, uses: transform, with: {value: "{{ inputs.x + }}"}}
  - {id: c, uses: transform, on_error: bakup}
""")
    assert errors["/steps/0/uses"] == ("unknown action 'transfrom'", "did you mean 'transform'?")
    assert errors["/steps/0/with/value"][0].startswith("unknown step 'zz'")
    assert errors["/steps/1/with/secs"] == ("unknown parameter 'secs'", "did you mean 'seconds'?")
    assert errors["/steps/1/with/seconds"][0] == "required parameter 'seconds' is missing"
    assert errors["/steps/1/needs/1"][0] == "unknown step 'nope'"
    assert "duplicate step id 'b'" in errors["/steps/2/id"][0]
    assert "syntax error" in errors["/steps/2/with/value"][0]
    assert "neither fail, continue nor a step id" in errors["/steps/3/on_error"][0]


def test_cycles_are_printed_in_order() -> None:
    errors = check("""
name: cyc
steps:
  - {id: a, uses: transform, with: {value: "{{ steps.c.output }}"}}
  - {id: b, uses: transform, needs: [a]}
  - {id: c, uses: transform, needs: [b]}
""")
    [(message, hint)] = [v for k, v in errors.items() if "cycle" in v[0]]
    assert message == "dependency cycle: a -> b -> c -> a"
    assert hint and "remove one" in hint


def test_shape_errors_do_not_hide_other_steps() -> None:
    errors = check("""
name: shapes
steps:
  - {id: a, uses: delay, timeout: lots, with: {seconds: 1}}
  - {id: b, uses: transform, retry: {max_atempts: 3}}
  - {id: c, uses: tranform}
""")
    assert "not a duration" in errors["/steps/0/timeout"][0]
    assert errors["/steps/1/retry/max_atempts"] == (
        "unknown field 'max_atempts'",
        "did you mean 'max_attempts'?",
    )
    assert errors["/steps/2/uses"][0] == "unknown action 'tranform'"


def test_valid_spec_with_unused_result_warns() -> None:
    report = validate(
        yaml.safe_load("""
name: warn
steps:
  - {id: a, uses: transform, with: {value: 1}}
  - {id: b, uses: transform, with: {value: 2}}
outputs: {x: "{{ steps.a.output.value }}"}
"""),
        default_registry(),
    )
    assert report.valid
    assert [w.pointer for w in report.warnings] == ["/steps/1"]


def test_not_a_mapping_and_missing_steps() -> None:
    assert validate(["a"], default_registry()).errors[0].pointer == ""
    assert check("name: x")["/steps"][0] == "required field 'steps' is missing"


def test_syntax_errors_in_code_steps_point_at_the_line_and_column_in_the_code() -> None:
    errors = check("""
name: code
steps:
  - {id: ok, uses: code.python, with: {code: "return a + 1", inputs: {a: 1}}}
  - id: broken
    uses: code.python
    with:
      code: |
        total = 0
        for x in items
            total += x
        return total
""")
    assert errors == {
        "/steps/1/with/code": (
            "syntax error at line 2, column 15 of the code: expected ':'",
            "for x in items",
        )
    }


def test_code_is_not_an_expression_template() -> None:
    report = validate(
        yaml.safe_load("""
name: braces
steps:
  - {id: a, uses: code.python, with: {code: "return f'{{x}}' + '{{ steps.nope }}'"}}
"""),
        default_registry(),
    )
    assert report.valid, report.errors
