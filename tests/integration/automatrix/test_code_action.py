"""`code.python` through the API: outputs, logs, errors, the tenant's import policy, and a
failing code step that leaves the next step and run unharmed."""

from __future__ import annotations

import httpx

from tests.integration.automatrix.conftest import run as run_workflow
from tests.integration.automatrix.conftest import save, save_and_run, steps_by_id
from tests.integration.identity.conftest import Account

PIPELINE = """
name: code-pipeline
inputs:
  type: object
  properties: {numbers: {type: array}}
steps:
  - id: stats
    uses: code.python
    with:
      inputs: {numbers: "{{ inputs.numbers }}"}
      code: |
        import statistics
        print("got", len(numbers), "numbers")
        return {"mean": statistics.mean(numbers), "label": f"{{n={len(numbers)}}}"}
  - id: report
    uses: transform
    with: {value: "{{ steps.stats.output.mean * 2 }}"}
outputs:
  mean: "{{ steps.stats.output.mean }}"
  doubled: "{{ steps.report.output.value }}"
  label: "{{ steps.stats.output.label }}"
"""


async def test_a_code_step_feeds_the_next_step_and_logs_its_prints(
    client: httpx.AsyncClient, owner: Account
) -> None:
    body = await save_and_run(client, owner, PIPELINE, {"numbers": [1, 2, 3, 6]})
    assert body["status"] == "succeeded", body
    assert body["outputs"] == {"mean": 3, "doubled": 6, "label": "{n=4}"}
    assert steps_by_id(body)["stats"]["logs"] == ["got 4 numbers"]


FAILING = """
name: code-failing
steps:
  - id: crash
    uses: code.python
    with:
      code: |
        values = [1, 2]
        return values[5]
  - id: after
    uses: transform
    needs: [crash]
    with: {value: 1}
"""


async def test_an_exception_fails_the_step_with_the_users_traceback(
    client: httpx.AsyncClient, owner: Account
) -> None:
    body = await save_and_run(client, owner, FAILING)
    assert body["status"] == "failed"
    crash = steps_by_id(body)["crash"]
    assert crash["error"]["message"] == "IndexError: list index out of range (line 2)"
    assert crash["error"]["details"]["traceback"].splitlines()[1:3] == [
        "  line 2, in main",
        "    return values[5]",
    ]
    assert "line 2, in main" in crash["logs"][-1]
    # The server and the sandbox pool carry on.
    again = await save_and_run(client, owner, PIPELINE, {"numbers": [4]})
    assert again["status"] == "succeeded" and again["outputs"]["mean"] == 4


IMPORTS = """
name: code-imports
steps:
  - id: parse
    uses: code.python
    with:
      code: |
        import yaml
        return yaml.safe_load("a: [1, 2]")
"""


async def test_third_party_imports_follow_the_tenant_settings(
    client: httpx.AsyncClient, owner: Account
) -> None:
    workflow = await save(client, owner, IMPORTS)
    refused = await run_workflow(client, owner, workflow["id"])
    error = steps_by_id(refused)["parse"]["error"]
    assert error["message"].startswith(
        "ImportError: import of 'yaml' is not allowed: it is not on this tenant's list"
    )
    patched = await client.patch(
        "/api/tenant/settings",
        json={"code": {"allowed_imports": ["yaml"], "network": False}},
        headers=owner.headers,
    )
    assert patched.status_code == 200, patched.text
    allowed = await run_workflow(client, owner, workflow["id"])
    assert allowed["status"] == "succeeded", allowed
    assert steps_by_id(allowed)["parse"]["output"] == {"a": [1, 2]}


async def test_a_secret_reaches_the_code_only_through_its_inputs(
    client: httpx.AsyncClient, owner: Account
) -> None:
    created = await client.put(
        "/api/secrets/API_TOKEN", json={"value": "s3cr3t-value"}, headers=owner.headers
    )
    assert created.status_code in (200, 201), created.text
    spec = """
name: code-secret
steps:
  - id: use
    uses: code.python
    with:
      inputs: {token: "{{ secrets.API_TOKEN }}"}
      code: |
        print("token length", len(token))
        return {"starts": token[:2], "echo": token}
"""
    body = await save_and_run(client, owner, spec)
    step = steps_by_id(body)["use"]
    assert body["status"] == "succeeded", body
    assert step["output"] == {"starts": "s3", "echo": "[secret:API_TOKEN]"}
    assert step["logs"] == ["token length 12"]


async def test_validate_reports_a_syntax_error_inside_the_code(
    client: httpx.AsyncClient, owner: Account
) -> None:
    spec = "name: v\nsteps:\n  - {id: c, uses: code.python, with: {code: 'x = (1,'}}\n"
    response = await client.post(
        "/api/workflows/validate",
        content=spec,
        headers={**owner.headers, "content-type": "application/yaml"},
    )
    assert response.status_code == 200
    [error] = response.json()["errors"]
    assert error["pointer"] == "/steps/0/with/code"
    assert error["message"].startswith("syntax error at line 1, column 5 of the code:")
