"""`auterity validate` and `auterity run` on the embedded default (SQLite in the data dir)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from typer.testing import CliRunner, Result

from auterity.cli.main import app
from tests.integration.cli.specs import DIAMOND, FAILING, INVALID

runner = CliRunner()


def write(name: str, text: str) -> str:
    Path(name).write_text(text)
    return name


def invoke(*args: str) -> Result:
    return runner.invoke(app, list(args))


def test_validate_prints_each_problem_with_its_pointer_and_hint() -> None:
    result = invoke("validate", write("broken.yaml", INVALID))
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert "error /steps/0/uses: unknown action 'transfrom'" in lines
    assert "    hint: did you mean 'transform'?" in lines
    assert "error /steps/1/needs/0: unknown step 'aa'" in lines
    assert "error /steps/1/with/valu: unknown parameter 'valu'" in lines
    assert "    hint: did you mean 'value'?" in lines
    assert "warning /steps/0: the result of step 'a' is not used by any step or output" in lines
    assert "broken.yaml is invalid: 3 error(s), 1 warning(s)" in lines


def test_validate_accepts_valid_yaml_and_json_and_shows_warnings() -> None:
    result = invoke("validate", write("diamond.yaml", DIAMOND))
    assert result.exit_code == 0, result.output
    assert "diamond.yaml is valid: 4 step(s), 0 error(s), 0 warning(s)" in result.stdout
    document = {
        "name": "json",
        "steps": [{"id": "a", "uses": "transform"}, {"id": "b", "uses": "log", "with": {}}],
        "outputs": {"x": 1},
    }
    result = invoke("validate", write("flow.json", json.dumps(document)))
    assert result.exit_code == 1  # the log step lacks its message
    assert "error /steps/1/with/message: required parameter 'message' is missing" in result.stdout
    document["steps"][1]["with"] = {"message": "hi"}
    result = invoke("validate", write("flow.json", json.dumps(document)))
    assert result.exit_code == 0, result.output
    assert "warning /steps/0: the result of step 'a' is not used" in result.stdout
    assert "flow.json is valid: 2 step(s), 0 error(s), 1 warning(s)" in result.stdout


def test_validate_reports_unreadable_files() -> None:
    result = invoke("validate", write("bad.yaml", "name: [\n"))
    assert result.exit_code == 1
    assert "Malformed YAML at line 2" in result.output
    assert invoke("validate", "missing.yaml").exit_code == 2


def test_run_the_diamond_with_a_live_table_prints_the_outputs_as_json() -> None:
    result = invoke("run", write("diamond.yaml", DIAMOND), "--input", "x=4", "--watch")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"result": 50}
    assert "created tenant 'local'" in result.stderr
    assert "Workflow 'diamond' version 1 saved." in result.stderr
    rows = [line for line in result.stderr.splitlines() if line.startswith("│")]
    assert [row.split("│")[1].strip() for row in rows] == ["a", "b", "c", "d"]
    assert all("succeeded" in row for row in rows)

    again = invoke("run", "diamond.yaml", "--input-json", '{"x": 2}')
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout) == {"result": 30}
    assert "version 1 (unchanged)" in again.stderr

    Path("diamond.yaml").write_text(DIAMOND.replace("seconds: 1", "seconds: 0"))
    changed = invoke("run", "diamond.yaml", "-i", "x=0")
    assert changed.exit_code == 0 and json.loads(changed.stdout) == {"result": 10}
    assert "version 2 saved" in changed.stderr


def test_a_failing_run_exits_1_and_says_why() -> None:
    result = invoke("run", write("failing.yaml", FAILING), "--watch")
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert "Step 'boom' failed: card declined" in result.stderr
    assert "auterity runs retry" in result.stderr
    boom = next(line for line in result.stderr.splitlines() if line.startswith("│ boom"))
    assert "failed" in boom and "card declined" in boom


def test_invalid_inputs_and_workflows_exit_2_with_pointers() -> None:
    write("diamond.yaml", DIAMOND)
    wrong_type = invoke("run", "diamond.yaml", "--input", "x=four")
    assert wrong_type.exit_code == 2
    assert "/inputs/x: 'four' is not of type 'integer'" in wrong_type.stderr
    assert invoke("run", "diamond.yaml", "--input", "x").exit_code == 2
    assert invoke("run", "diamond.yaml", "--input-json", "[1]").exit_code == 2
    invalid = invoke("run", write("broken.yaml", INVALID))
    assert invalid.exit_code == 2
    assert "/steps/0/uses: unknown action 'transfrom' (did you mean 'transform'?)" in (
        invalid.stderr
    )


def test_input_values_are_json_when_they_parse_else_strings() -> None:
    echo = """
name: echo
steps:
  - {id: show, uses: transform, with: {value: "{{ inputs }}"}}
outputs: {inputs: "{{ steps.show.output.value }}"}
"""
    result = invoke(
        "run",
        write("echo.yaml", echo),
        "--input-json",
        '{"n": 1, "kept": true}',
        "-i",
        "n=2",
        "-i",
        "name=Ada Lovelace",
        "-i",
        'quoted="7"',
        "-i",
        "list=[1, 2]",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "inputs": {"n": 2, "kept": True, "name": "Ada Lovelace", "quoted": "7", "list": [1, 2]}
    }


def test_a_run_from_the_command_line_leaves_its_event_in_the_outbox() -> None:
    # No dispatcher runs in the CLI: a server's on this database delivers the event later.
    result = invoke("run", write("diamond.yaml", DIAMOND), "--input", "x=4")
    assert result.exit_code == 0, result.output
    with sqlite3.connect(Path("var") / "auterity.db") as db:
        rows = db.execute("SELECT type, data FROM events").fetchall()
    assert [(kind, json.loads(data)["outputs"]) for kind, data in rows] == [
        ("run.succeeded", {"result": 50})
    ]
