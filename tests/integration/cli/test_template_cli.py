"""`auterity template validate|test FILE` on the example template and on broken copies."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from auterity.cli.main import app

runner = CliRunner()
EXAMPLE = Path(__file__).parents[3] / "examples" / "templates" / "order-alert.yaml"


def test_the_example_validates_and_its_tests_pass() -> None:
    checked = runner.invoke(app, ["template", "validate", str(EXAMPLE)])
    assert checked.exit_code == 0, checked.output
    assert "4 parameter(s), 3 test case(s)" in checked.output
    tested = runner.invoke(app, ["template", "test", str(EXAMPLE)])
    assert tested.exit_code == 0, tested.output
    assert "3 passed, 0 failed" in tested.output


def test_a_failing_case_exits_1_with_the_reason(tmp_path: Path) -> None:
    document = yaml.safe_load(EXAMPLE.read_text())
    document["tests"][1]["expect"]["outputs"]["result"] = "posted"
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(document))
    result = runner.invoke(app, ["template", "test", str(path)])
    assert result.exit_code == 1
    assert "FAIL a small order is ignored" in result.output
    assert "output 'result' is 'ignored', expected 'posted'" in result.output


def test_an_invalid_template_exits_2_with_pointers(tmp_path: Path) -> None:
    document = yaml.safe_load(EXAMPLE.read_text())
    document["workflow"]["steps"][1]["with"]["url"] = "{{ params.endpont }}"
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(document))
    result = runner.invoke(app, ["template", "validate", str(path)])
    assert result.exit_code == 2
    assert "/workflow/steps/1/with/url" in result.output
    assert "did you mean 'endpoint'?" in result.output


def test_run_fills_a_template_and_runs_it() -> None:
    # threshold above the amount: the notify step is skipped, nothing reaches outside
    result = runner.invoke(
        app,
        [
            "run",
            str(EXAMPLE),
            "--param",
            "endpoint=https://crm.example.com/orders",
            "-p",
            "api_token=CRM_TOKEN",
            "--params-json",
            '{"threshold": 1000}',
            "--input",
            "amount=70",
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"result": "ignored"}
    assert "Workflow 'order-alert' version 1 saved." in result.stderr


def test_run_names_a_missing_or_wrong_parameter() -> None:
    missing = runner.invoke(app, ["run", str(EXAMPLE), "-p", "api_token=CRM_TOKEN"])
    assert missing.exit_code == 2
    assert "/parameters/endpoint" in missing.stderr
    wrong = runner.invoke(
        app,
        ["run", str(EXAMPLE), "-p", "endpoint=https://x.example", "-p", "api_token=not a name"],
    )
    assert wrong.exit_code == 2
    assert "/parameters/api_token" in wrong.stderr


def test_param_is_refused_for_a_plain_workflow(tmp_path: Path) -> None:
    path = tmp_path / "w.yaml"
    path.write_text(
        yaml.safe_dump(
            {"name": "w", "steps": [{"id": "a", "uses": "log", "with": {"message": "x"}}]}
        )
    )
    result = runner.invoke(app, ["run", str(path), "-p", "x=1"])
    assert result.exit_code == 2
    assert "--param is for template files" in result.output
