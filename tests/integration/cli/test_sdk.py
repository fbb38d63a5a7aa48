"""`auterity deploy FILE.py`, `auterity run FILE.py:NAME` and a YAML code step, on the
embedded default."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from auterity.cli.main import app

runner = CliRunner()
EXAMPLE = Path(__file__).parents[3] / "examples" / "sdk" / "my_flows.py"

FAILING = """
from auterity.sdk import step, workflow


@step
def divide(a: int, b: int) -> float:
    return a / b


@workflow
def ratio(a: int, b: int) -> float:
    return divide(a, b)
"""


def test_run_deploys_the_module_and_runs_the_named_workflow() -> None:
    result = runner.invoke(
        app, ["run", f"{EXAMPLE}:word_report", "--input", "text=b a b c b a", "--input", "n=2"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "top": ["b", "a"],
        "summary": "3 distinct words; most common: b, a",
    }
    assert "Module my_flows@" in result.stderr
    assert "Workflow 'word-report' version 1 saved." in result.stderr
    again = runner.invoke(app, ["deploy", str(EXAMPLE)])
    assert again.exit_code == 0, again.output
    assert "Workflow 'word-report' version 1 (unchanged)." in again.stderr


def test_a_failing_step_exits_1_with_the_error_and_bad_arguments_exit_clearly() -> None:
    Path("flows.py").write_text(FAILING)
    result = runner.invoke(app, ["run", "flows.py:ratio", "-i", "a=1", "-i", "b=0"])
    assert result.exit_code == 1, result.output
    assert "ZeroDivisionError: division by zero" in result.output
    missing = runner.invoke(app, ["run", "flows.py:nope"])
    assert missing.exit_code == 2
    assert "has no @workflow 'nope' (it has ratio)" in missing.output


def test_a_yaml_workflow_with_a_code_step_runs_from_the_cli() -> None:
    example = EXAMPLE.parents[1] / "code-step.yaml"
    result = runner.invoke(
        app, ["run", str(example), "--input-json", '{"orders": [{"total": 3}, {"total": 5}]}']
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"mean": 4, "has_large_order": False}
