"""`auterity template validate|test FILE` on the example template and on broken copies."""

from __future__ import annotations

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
