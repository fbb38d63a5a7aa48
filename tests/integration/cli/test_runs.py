"""`auterity runs list|show|cancel|retry` and the tenant choice, on the embedded default."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner, Result

from auterity.cli.local_backend import LocalBackend
from auterity.cli.main import app
from tests.integration.cli.specs import DIVIDE

runner = CliRunner()


def invoke(*args: str) -> Result:
    return runner.invoke(app, list(args))


def run_json(run_id: str) -> dict[str, Any]:
    shown = invoke("runs", "show", run_id, "--json")
    assert shown.exit_code == 0, shown.output
    body: dict[str, Any] = json.loads(shown.stdout)
    return body


def latest_run() -> dict[str, Any]:
    listed = invoke("runs", "list", "--json", "--limit", "1")
    assert listed.exit_code == 0, listed.output
    body: dict[str, Any] = json.loads(listed.stdout)[0]
    return body


def test_list_and_show_runs() -> None:
    Path("divide.yaml").write_text(DIVIDE)
    assert invoke("run", "divide.yaml", "-i", "d=4").exit_code == 0
    assert invoke("run", "divide.yaml", "-i", "d=0").exit_code == 1
    listed = invoke("runs", "list")
    assert listed.exit_code == 0, listed.output
    rows = [line.split() for line in listed.stdout.splitlines()[2:]]
    assert [(row[1], row[2]) for row in rows] == [("failed", "divide"), ("succeeded", "divide")]
    failed_id, succeeded_id = rows[0][0], rows[1][0]
    assert [r["id"] for r in json.loads(invoke("runs", "list", "--json").stdout)] == [
        failed_id,
        succeeded_id,
    ]
    only_failed = json.loads(invoke("runs", "list", "--status", "failed", "--json").stdout)
    assert [r["id"] for r in only_failed] == [failed_id]

    shown = invoke("runs", "show", succeeded_id)
    assert shown.exit_code == 0, shown.output
    assert "workflow  divide v1" in shown.stdout and 'inputs    {"d": 4}' in shown.stdout
    assert json.loads(shown.stdout[shown.stdout.index("outputs\n") + 8 :]) == {"result": 26}
    failed = invoke("runs", "show", failed_id)
    assert "error     Step 'b' failed" in failed.stdout and "ZeroDivisionError" in failed.stdout
    body = run_json(failed_id)
    assert [(s["id"], s["status"]) for s in body["steps"]] == [
        ("a", "succeeded"),
        ("b", "failed"),
        ("c", "cancelled"),
    ]
    missing = invoke("runs", "show", "01a212d8-d6ce-70a0-aaa9-b0ce30c71d5e")
    assert missing.exit_code == 1 and "does not exist" in missing.output


def test_retry_reuses_what_succeeded_and_runs_the_rest_with_new_inputs() -> None:
    Path("divide.yaml").write_text(DIVIDE)
    assert invoke("run", "divide.yaml", "-i", "d=0").exit_code == 1
    failed = latest_run()

    bad = invoke("runs", "retry", failed["id"], "--from-step", "bb")
    assert bad.exit_code == 2
    assert "/from_step: unknown step 'bb' (did you mean 'b'?)" in bad.stderr

    retried = invoke("runs", "retry", failed["id"], "-i", "d=5", "--watch")
    assert retried.exit_code == 0, retried.output
    assert json.loads(retried.stdout) == {"result": 21}
    assert "reusing a." in retried.stderr
    assert "succeeded (reused)" in retried.stderr
    body = run_json(latest_run()["id"])
    assert body["retry_of"] == failed["id"] and body["inputs"] == {"d": 5}
    steps = {s["id"]: s for s in body["steps"]}
    assert steps["a"]["reused_from"] == failed["id"]
    assert steps["a"]["finished_at"] == run_json(failed["id"])["steps"][0]["finished_at"]
    assert steps["b"]["reused_from"] is None and steps["b"]["output"] == {"value": 20}

    edited = invoke("runs", "retry", body["id"], "--from-step", "a", "--with", "a.value=50")
    assert edited.exit_code == 0, edited.output
    assert json.loads(edited.stdout) == {"result": 11}
    assert "reusing no step" in edited.stderr
    assert run_json(latest_run()["id"])["step_overrides"] == {"a": {"value": 50}}


def test_cancel_stops_a_run_nobody_drives_any_more() -> None:
    """A run whose command was interrupted: `runs cancel` stops it at once."""
    spec = {"name": "long", "steps": [{"id": "wait", "uses": "delay", "with": {"seconds": 60}}]}

    async def start_and_abandon() -> str:
        backend = await LocalBackend.open(None)
        try:
            workflow, _ = await backend.save_workflow(spec, None)
            run = await backend.start_run(workflow.id, {})
            await backend.engine.release(run.id)
            return str(run.id)
        finally:
            await backend.close()

    run_id = asyncio.run(start_and_abandon())
    cancelled = invoke("runs", "cancel", run_id)
    assert cancelled.exit_code == 0, cancelled.output
    assert f"Run {run_id} cancelled." in cancelled.stdout
    assert run_json(run_id)["steps"][0]["status"] == "cancelled"
    again = invoke("runs", "cancel", run_id)
    assert again.exit_code == 1 and "already ended (cancelled)" in again.output


def test_the_tenant_is_the_only_one_or_named() -> None:
    assert invoke("db", "upgrade").exit_code == 0
    for tenant in ("Acme", "Globex"):
        created = invoke(
            "users",
            "create",
            "--email",
            f"boss@{tenant.lower()}.example",
            "--tenant",
            tenant,
            "--password",
            "a long enough passphrase",
        )
        assert created.exit_code == 0, created.output
    unsure = invoke("runs", "list")
    assert unsure.exit_code == 2
    assert "2 tenants: say which with --tenant" in unsure.stderr
    assert "one of acme, globex" in unsure.stderr
    Path("flow.yaml").write_text(yaml.safe_dump(yaml.safe_load(DIVIDE)))
    assert invoke("run", "flow.yaml", "-i", "d=1", "--tenant", "acme").exit_code == 0
    assert len(json.loads(invoke("runs", "list", "--tenant", "acme", "--json").stdout)) == 1
    # Tenants are apart: Globex (named by its name) sees none of Acme's runs.
    assert json.loads(invoke("runs", "list", "--tenant", "Globex", "--json").stdout) == []
    unknown = invoke("runs", "list", "--tenant", "initech")
    assert unknown.exit_code == 2 and "No tenant 'initech'" in unknown.stderr
