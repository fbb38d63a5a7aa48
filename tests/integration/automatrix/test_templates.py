"""Templates: publish, versions, rollback, diff, validation, tests on the engine, instantiate,
upgrade of instances."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import httpx
import yaml

from tests.integration.automatrix.conftest import run, steps_by_id
from tests.integration.identity.conftest import Account, add_member, assert_problem

TEMPLATE: dict[str, Any] = yaml.safe_load(
    """
name: order-alert
description: Post large orders to a team endpoint
category: commerce
tags: [orders, Notify]
parameters:
  type: object
  properties:
    endpoint: {type: string, format: uri, description: Where to post large orders}
    threshold: {type: integer, default: 100, minimum: 1}
    api_token: {type: string, format: secret, description: Secret holding the token}
    labels: {type: array, items: {type: string}, default: [sales]}
  required: [endpoint, api_token]
workflow:
  name: order-alert
  inputs:
    type: object
    properties: {amount: {type: integer}}
    required: [amount]
  steps:
    - id: large
      uses: condition
      with: {value: "{{ inputs.amount >= {{ params.threshold }} }}"}
    - id: notify
      uses: http.request
      if: steps.large.output.result
      with:
        method: POST
        url: "{{ params.endpoint }}"
        auth: {type: bearer, token: "{{ params.api_token }}"}
        json: {amount: "{{ inputs.amount }}", labels: "{{ params.labels }}"}
    - id: summary
      uses: transform
      needs: [notify]
      if: "steps.notify.status in ['succeeded', 'skipped']"
      with: {value: "{{ 'posted' if steps.notify.status == 'succeeded' else 'ignored' }}"}
  outputs:
    result: "{{ steps.summary.output.value }}"
tests:
  - name: a large order is posted
    parameters: {endpoint: "https://crm.example.com/orders", api_token: CRM_TOKEN, threshold: 50}
    inputs: {amount: 70}
    responses:
      notify: {output: {status: 201, body: {ok: true}}}
    expect:
      status: succeeded
      steps: {large: succeeded, notify: succeeded, summary: succeeded}
      outputs: {result: posted}
      step_outputs: {large: {result: true}}
  - name: a small order is ignored
    parameters: {endpoint: "https://crm.example.com/orders", api_token: CRM_TOKEN}
    inputs: {amount: 70}
    responses:
      notify: {output: {status: 201}}
    expect:
      steps: {notify: skipped}
      outputs: {result: ignored}
"""
)


def document(**changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(TEMPLATE)
    doc["name"] = f"order-alert-{uuid.uuid4().hex[:6]}"
    doc.update(changes)
    return doc


async def create(client: httpx.AsyncClient, owner: Account, doc: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/api/templates", json=doc, headers=owner.headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_the_template_block_is_filled_and_mixed_blocks_are_refused(
    client: httpx.AsyncClient, owner: Account
) -> None:
    doc = document()
    # `{{ inputs.amount >= {{ params.threshold }} }}` is not one valid block: it must be
    # reported with its pointer, not half-rendered.
    report = (await client.post("/api/templates/validate", json=doc, headers=owner.headers)).json()
    assert not report["valid"]
    assert any(e["pointer"].startswith("/workflow/steps/0/with/value") for e in report["errors"])


def valid_document() -> dict[str, Any]:
    doc = document()
    # A params block on its own gives a native value: here the input's default.
    doc["workflow"]["inputs"]["properties"]["threshold"] = {
        "type": "integer",
        "default": "{{ params.threshold }}",
    }
    doc["workflow"]["steps"][0]["with"] = {"value": "{{ inputs.amount >= inputs.threshold }}"}
    return doc


async def test_create_read_search(client: httpx.AsyncClient, owner: Account) -> None:
    created = await create(client, owner, valid_document())
    assert created["current_version"] == 1 and created["latest_version"] == 1
    assert created["tags"] == ["orders", "Notify"]
    got = await client.get(f"/api/templates/{created['id']}", headers=owner.headers)
    assert got.json()["document"]["workflow"]["steps"][0]["id"] == "large"
    other = await create(client, owner, {**valid_document(), "category": "ops", "tags": ["ops"]})
    by_tag = await client.get("/api/templates?tag=notify", headers=owner.headers)
    assert [t["id"] for t in by_tag.json()["items"]] == [created["id"]]
    by_category = await client.get("/api/templates?category=ops", headers=owner.headers)
    assert [t["id"] for t in by_category.json()["items"]] == [other["id"]]
    by_words = await client.get("/api/templates?q=large%20orders", headers=owner.headers)
    assert {t["id"] for t in by_words.json()["items"]} == {created["id"], other["id"]}
    duplicate = await client.post(
        "/api/templates", json={**valid_document(), "name": created["name"]}, headers=owner.headers
    )
    assert_problem(duplicate, 409)


async def test_publish_validation_reports_every_problem(
    client: httpx.AsyncClient, owner: Account
) -> None:
    doc = valid_document()
    doc["parameters"]["properties"]["unused"] = {"type": "string"}
    doc["parameters"]["properties"]["api_token"]["type"] = "integer"
    doc["workflow"]["steps"][1]["with"]["url"] = "{{ params.endpiont }}"
    doc["workflow"]["steps"][2]["uses"] = "transfrom"
    doc["tests"][0]["parameters"]["threshold"] = "fifty"
    doc["tests"][0]["responses"]["nowhere"] = {"output": {}}
    problem = assert_problem(
        await client.post("/api/templates", json=doc, headers=owner.headers), 422
    )
    found = {(e["pointer"], e["message"].split(" ")[0]) for e in problem["errors"]}
    pointers = {pointer for pointer, _ in found}
    assert "/parameters/properties/unused" in pointers
    assert "/parameters/properties/api_token/type" in pointers
    unknown = next(e for e in problem["errors"] if "endpiont" in e["message"])
    assert unknown["pointer"] == "/workflow/steps/1/with/url"
    assert unknown["hint"] == "did you mean 'endpoint'?"
    # The workflow itself is checked by the engine's validator once the shape is right.
    doc = valid_document()
    doc["workflow"]["steps"][2]["uses"] = "transfrom"
    doc["tests"][0]["parameters"]["threshold"] = "fifty"
    doc["tests"][0]["responses"]["nowhere"] = {"output": {}}
    problem = assert_problem(
        await client.post("/api/templates", json=doc, headers=owner.headers), 422
    )
    pointers = {e["pointer"] for e in problem["errors"]}
    assert "/workflow/steps/2/uses" in pointers
    assert "/tests/0/parameters/threshold" in pointers
    assert "/tests/0/responses/nowhere" in pointers


async def test_versions_are_immutable_and_rollback_keeps_history(
    client: httpx.AsyncClient, owner: Account
) -> None:
    created = await create(client, owner, valid_document())
    template_id = created["id"]
    second = copy.deepcopy(created["document"])
    second["parameters"]["properties"]["threshold"]["default"] = 500
    second["workflow"]["steps"].append(
        {"id": "audit", "uses": "log", "needs": ["summary"], "with": {"message": "done"}}
    )
    published = await client.post(
        f"/api/templates/{template_id}/versions", json=second, headers=owner.headers
    )
    assert published.status_code == 201, published.text
    assert published.json()["version"] == 2 and published.json()["current"] is True

    diff = (
        await client.get(f"/api/templates/{template_id}/diff?from=1&to=2", headers=owner.headers)
    ).json()
    assert diff["workflow"]["steps"]["added"] == ["audit"]
    assert diff["parameters"]["changed"]["threshold"]["default"] == {"from": 100, "to": 500}
    assert diff["workflow"]["steps"]["removed"] == [] and diff["workflow"]["steps"]["changed"] == {}

    rolled = await client.post(
        f"/api/templates/{template_id}/rollback", json={"version": 1}, headers=owner.headers
    )
    assert rolled.status_code == 200
    assert rolled.json()["current_version"] == 1 and rolled.json()["latest_version"] == 2
    versions = (
        await client.get(f"/api/templates/{template_id}/versions", headers=owner.headers)
    ).json()
    assert [(v["version"], v["current"]) for v in versions] == [(2, False), (1, True)]
    v2 = (
        await client.get(f"/api/templates/{template_id}/versions/2", headers=owner.headers)
    ).json()
    assert v2["document"]["workflow"]["steps"][-1]["id"] == "audit"  # history untouched
    third = await client.post(
        f"/api/templates/{template_id}/versions", json=second, headers=owner.headers
    )
    assert third.json()["version"] == 3  # numbering continues after a rollback
    missing = await client.post(
        f"/api/templates/{template_id}/rollback", json={"version": 9}, headers=owner.headers
    )
    assert "versions 1 to 3" in assert_problem(missing, 404)["detail"]


async def test_template_tests_run_on_the_engine(client: httpx.AsyncClient, owner: Account) -> None:
    created = await create(client, owner, valid_document())
    report = (
        await client.post(f"/api/templates/{created['id']}/versions/1/test", headers=owner.headers)
    ).json()
    assert report["passed"] is True, report
    assert [case["name"] for case in report["cases"]] == [
        "a large order is posted",
        "a small order is ignored",
    ]
    assert report["cases"][1]["steps"]["notify"] == "skipped"

    # A wrong expectation fails with a precise message, and so does a step that would reach
    # the outside without a canned response.
    doc = valid_document()
    doc["tests"][0]["expect"]["outputs"] = {"result": "ignored"}
    del doc["tests"][1]["responses"]["notify"]
    doc["tests"][1]["inputs"] = {"amount": 500}
    failing = await create(client, owner, doc)
    report = (
        await client.post(f"/api/templates/{failing['id']}/versions/1/test", headers=owner.headers)
    ).json()
    assert report["passed"] is False
    assert report["cases"][0]["failures"] == ["output 'result' is 'posted', expected 'ignored'"]
    assert "reaches outside the platform" in report["cases"][1]["failures"][0]


async def test_canned_steps_still_check_their_real_parameters(
    client: httpx.AsyncClient, owner: Account
) -> None:
    doc = valid_document()
    doc["workflow"]["steps"][1]["with"]["method"] = "{{ 'FETCH' if inputs.amount else 'GET' }}"
    doc["tests"] = doc["tests"][:1]
    created = await create(client, owner, doc)
    report = (
        await client.post(f"/api/templates/{created['id']}/versions/1/test", headers=owner.headers)
    ).json()
    case = report["cases"][0]
    assert case["steps"]["notify"] == "failed"
    assert any(
        "invalid parameters for http.request" in f or "notify" in f for f in case["failures"]
    )


async def test_publishing_can_require_green_tests(
    client: httpx.AsyncClient, owner: Account
) -> None:
    doc = valid_document()
    doc["tests"][0]["expect"]["outputs"] = {"result": "nope"}
    refused = await client.post(
        "/api/templates?require_tests=true", json=doc, headers=owner.headers
    )
    problem = assert_problem(refused, 422)
    assert "1 template test(s) failed" in problem["detail"]
    assert problem["tests"][0]["passed"] is False
    fine = await client.post(
        "/api/templates?require_tests=true", json=valid_document(), headers=owner.headers
    )
    assert fine.status_code == 201
    versions = (
        await client.get(f"/api/templates/{fine.json()['id']}/versions", headers=owner.headers)
    ).json()
    assert versions[0]["tests_passed"] is True


async def test_instantiate_names_bad_parameters_and_pins_the_version(
    client: httpx.AsyncClient, owner: Account
) -> None:
    created = await create(client, owner, valid_document())
    url = f"/api/templates/{created['id']}/instantiate"
    missing = await client.post(url, json={"parameters": {}}, headers=owner.headers)
    pointers = {e["pointer"] for e in assert_problem(missing, 422)["errors"]}
    assert {"/parameters/endpoint", "/parameters/api_token"} <= pointers
    wrong = await client.post(
        url,
        json={"parameters": {"endpoint": "x", "api_token": "T", "threshold": "ten", "extra": 1}},
        headers=owner.headers,
    )
    errors = {e["pointer"]: e for e in assert_problem(wrong, 422)["errors"]}
    assert "/parameters/threshold" in errors and "/parameters/extra" in errors
    secret_value = await client.post(
        url,
        json={"parameters": {"endpoint": "x", "api_token": "sk-live-abc123"}},
        headers=owner.headers,
    )
    assert "not a secret name" in assert_problem(secret_value, 422)["errors"][0]["message"]
    injected = await client.post(
        url,
        json={"parameters": {"endpoint": "{{ secrets.OTHER }}", "api_token": "T"}},
        headers=owner.headers,
    )
    assert_problem(injected, 422)

    made = await client.post(
        url,
        json={
            "parameters": {"endpoint": "https://crm.example.com/o", "api_token": "CRM_TOKEN"},
            "name": f"orders-{uuid.uuid4().hex[:6]}",
        },
        headers=owner.headers,
    )
    assert made.status_code == 201, made.text
    workflow = made.json()
    assert workflow["template"]["template_version"] == 1
    assert workflow["template"]["parameters"]["threshold"] == 100  # the default, recorded
    notify = workflow["spec"]["steps"][1]["with"]
    assert notify["url"] == "https://crm.example.com/o"
    assert notify["auth"]["token"] == "{{ secrets.CRM_TOKEN }}"  # a reference, never a value
    assert notify["json"]["labels"] == ["sales"]  # a lone block keeps its native type
    assert notify["json"]["amount"] == "{{ inputs.amount }}"  # run-time blocks are kept
    link = await client.get(f"/api/workflows/{workflow['id']}/template", headers=owner.headers)
    assert link.json()["template_id"] == created["id"]


async def test_upgrade_is_explicit_and_runs_keep_their_version(
    client: httpx.AsyncClient, owner: Account
) -> None:
    doc = valid_document()
    doc["workflow"]["steps"][1]["uses"] = "log"
    doc["workflow"]["steps"][1]["with"] = {
        "message": "post {{ inputs.amount }} to {{ params.endpoint }} {{ params.api_token }}"
        " {{ params.labels }}"
    }
    doc["tests"] = []
    created = await create(client, owner, doc)
    stored = await client.put(
        "/api/secrets/TOKEN", json={"value": "s3cret-value"}, headers=owner.headers
    )
    assert stored.status_code == 200, stored.text
    made = (
        await client.post(
            f"/api/templates/{created['id']}/instantiate",
            json={"parameters": {"endpoint": "e1", "api_token": "TOKEN"}},
            headers=owner.headers,
        )
    ).json()
    workflow_id = made["id"]
    first_run = await run(client, owner, workflow_id, {"amount": 500})
    assert first_run["status"] == "succeeded" and first_run["version"] == 1
    logged = steps_by_id(first_run)["notify"]["logs"] + [str(steps_by_id(first_run)["notify"])]
    assert not any("s3cret-value" in line for line in logged)  # resolved at run time, redacted

    newer = copy.deepcopy(doc)
    newer["workflow"]["steps"].append(
        {"id": "extra", "uses": "log", "needs": ["summary"], "with": {"message": "v2"}}
    )
    await client.post(f"/api/templates/{created['id']}/versions", json=newer, headers=owner.headers)
    preview = await client.get(
        f"/api/workflows/{workflow_id}/template/upgrade", headers=owner.headers
    )
    assert preview.status_code == 200, preview.text
    assert preview.json()["diff"]["steps"]["added"] == ["extra"]
    still = await client.get(f"/api/workflows/{workflow_id}", headers=owner.headers)
    assert still.json()["version"] == 1  # a preview changes nothing

    no_etag = await client.post(
        f"/api/workflows/{workflow_id}/template/upgrade", json={}, headers=owner.headers
    )
    assert_problem(no_etag, 428)
    upgraded = await client.post(
        f"/api/workflows/{workflow_id}/template/upgrade",
        json={},
        headers={**owner.headers, "If-Match": '"v1"'},
    )
    assert upgraded.status_code == 200, upgraded.text
    assert upgraded.json()["to_version"] == 2
    second_run = await run(client, owner, workflow_id, {"amount": 500})
    assert second_run["version"] == 2 and "extra" in steps_by_id(second_run)
    old = await client.get(f"/api/runs/{first_run['id']}", headers=owner.headers)
    assert old.json()["version"] == 1 and "extra" not in steps_by_id(old.json())
    again = await client.post(
        f"/api/workflows/{workflow_id}/template/upgrade",
        json={},
        headers={**owner.headers, "If-Match": '"v2"'},
    )
    assert "already uses version 2" in assert_problem(again, 400)["detail"]


async def test_viewers_read_but_cannot_publish(client: httpx.AsyncClient, owner: Account) -> None:
    created = await create(client, owner, valid_document())
    viewer = await add_member(client, owner, "viewer")
    assert (
        await client.get(f"/api/templates/{created['id']}", headers=viewer.headers)
    ).status_code == 200
    denied = await client.post("/api/templates", json=valid_document(), headers=viewer.headers)
    assert_problem(denied, 403)
