"""`auterity run` and `auterity runs` with `--server`: the HTTP API of a real `auterity up`."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner, Result

from auterity.cli.main import app
from tests.integration.cli.specs import DIAMOND, FAILING

runner = CliRunner()


@pytest.fixture
def token(server: str) -> str:
    signed_up = httpx.post(
        f"{server}/api/auth/signup",
        json={
            "email": "cli@example.com",
            "password": "correct horse battery staple",
            "tenant_name": "Acme",
        },
    )
    assert signed_up.status_code == 201, signed_up.text
    return str(signed_up.json()["tokens"]["access_token"])


@pytest.fixture
def remote(server: str, token: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    # The local database must not be touched: point it somewhere that would fail loudly.
    monkeypatch.setenv("AUTERITY_DATABASE_URL", "postgresql+asyncpg://nobody@127.0.0.1:1/none")
    monkeypatch.delenv("AUTERITY_TENANT", raising=False)
    monkeypatch.setenv("AUTERITY_SERVER", server)
    monkeypatch.setenv("AUTERITY_TOKEN", token)


def invoke(*args: str) -> Result:
    return runner.invoke(app, list(args))


@pytest.mark.usefixtures("remote")
def test_run_watch_list_show_and_retry_through_the_api(server: str, token: str) -> None:
    Path("diamond.yaml").write_text(DIAMOND)
    result = invoke("run", "diamond.yaml", "--input", "x=4", "--watch")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"result": 50}
    rows = [line for line in result.stderr.splitlines() if line.startswith("│")]
    assert [row.split("│")[1].strip() for row in rows] == ["a", "b", "c", "d"]
    assert all("succeeded" in row for row in rows)

    # What the CLI saved and ran is what the server holds, in the token's tenant.
    headers = {"Authorization": f"Bearer {token}"}
    runs = httpx.get(f"{server}/api/runs", headers=headers).json()["items"]
    assert len(runs) == 1 and runs[0]["outputs"] == {"result": 50}
    workflows = httpx.get(f"{server}/api/workflows", headers=headers).json()["items"]
    assert [w["name"] for w in workflows] == ["diamond"]

    again = invoke("run", "diamond.yaml", "--input-json", '{"x": 1}')
    assert again.exit_code == 0 and json.loads(again.stdout) == {"result": 20}
    assert "version 1 (unchanged)" in again.stderr

    Path("failing.yaml").write_text(FAILING)
    failed = invoke("run", "failing.yaml")
    assert failed.exit_code == 1
    assert "Step 'boom' failed: card declined" in failed.stderr

    listed = invoke("runs", "list")
    assert listed.exit_code == 0, listed.output
    rows = [line.split() for line in listed.stdout.splitlines()[2:]]
    assert [(row[1], row[2]) for row in rows] == [
        ("failed", "failing"),
        ("succeeded", "diamond"),
        ("succeeded", "diamond"),
    ]
    failed_id = rows[0][0]
    shown = json.loads(invoke("runs", "show", failed_id, "--json").stdout)
    assert shown["error"]["step"] == "boom"

    retried = invoke("runs", "retry", failed_id, "--with", "boom.message=still no", "--watch")
    assert retried.exit_code == 1
    assert "reusing first." in retried.stderr
    assert "Step 'boom' failed: still no" in retried.stderr
    newest = json.loads(invoke("runs", "list", "--json", "--limit", "1").stdout)[0]
    assert newest["retry_of"] == failed_id
    assert newest["step_overrides"] == {"boom": {"message": "still no"}}

    invalid = invoke("run", "diamond.yaml", "--input", "x=four")
    assert invalid.exit_code == 2
    assert "/inputs/x: 'four' is not of type 'integer'" in invalid.stderr


@pytest.mark.usefixtures("remote")
def test_server_refusals_are_reported(server: str) -> None:
    denied = invoke("runs", "list", "--token", "not-a-token")
    assert denied.exit_code == 1 and "malformed" in denied.stderr
    tenant = invoke("runs", "list", "--tenant", "acme")
    assert tenant.exit_code == 2 and "the token decides the tenant" in tenant.output
    unreachable = invoke("runs", "list", "--server", "http://127.0.0.1:1")
    assert unreachable.exit_code == 1 and "Cannot reach http://127.0.0.1:1" in unreachable.stderr
