"""Retrying a failed run from a step, on SQLite and PostgreSQL: earlier results are reused."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any, ClassVar

import httpx
import pytest
from pydantic import BaseModel

from auterity.automatrix.actions.base import Action, ActionContext, ActionError, ActionInput
from tests.integration.automatrix.conftest import run, save, steps_by_id
from tests.integration.identity.conftest import Account

PIPELINE = """
name: pipeline
inputs:
  type: object
  properties: {ok: {type: boolean, default: false}}
steps:
  - {id: a, uses: test.count, with: {value: 1}}
  - {id: b, uses: test.count, with: {value: "{{ steps.a.output.value + 1 }}"}}
  - id: c
    uses: test.gate
    with: {ok: "{{ inputs.ok }}", value: "{{ steps.b.output.value * 10 }}"}
  - {id: d, uses: test.count, with: {value: "{{ steps.c.output.value + 1 }}"}}
outputs: {result: "{{ steps.d.output.value }}"}
"""


class CountInput(ActionInput):
    value: Any = None
    ok: bool = True


class CountOutput(BaseModel):
    value: Any = None


class Count(Action[CountInput, CountOutput]):
    """Returns `value`, and remembers how often each step ran it (the proof of reuse)."""

    name = "test.count"
    Input = CountInput
    Output = CountOutput
    calls: ClassVar[Counter[str]] = Counter()

    async def run(self, ctx: ActionContext, params: CountInput) -> CountOutput:
        type(self).calls[ctx.step_id] += 1
        if not params.ok:
            raise ActionError("not ok", kind="client_error")
        return CountOutput(value=params.value)


class Gate(Count):
    name = "test.gate"


@pytest.fixture(autouse=True)
def counting(app: Any) -> Counter[str]:
    app.state.actions = app.state.engine.registry = app.state.actions.with_overrides(
        {"test.count": Count, "test.gate": Gate}
    )
    Count.calls.clear()
    return Count.calls


async def _events(client: httpx.AsyncClient, account: Account, run_id: str) -> list[str]:
    response = await client.get(f"/api/runs/{run_id}/events", headers=account.headers)
    return [
        line.split(": ", 1)[1] for line in response.text.splitlines() if line.startswith("event: ")
    ]


async def _retry(
    client: httpx.AsyncClient, account: Account, run_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    response = await client.post(f"/api/runs/{run_id}/retry", json=body, headers=account.headers)
    assert response.status_code == 201, response.text
    assert response.headers["location"] == f"/api/runs/{response.json()['id']}"
    engine = client._transport.app.state.engine  # type: ignore[attr-defined]
    await engine.wait_for(uuid.UUID(response.json()["id"]), 30)
    body = (await client.get(response.headers["location"], headers=account.headers)).json()
    return dict(body)


async def _failed_run(client: httpx.AsyncClient, account: Account) -> dict[str, Any]:
    workflow = await save(client, account, PIPELINE)
    failed = await run(client, account, workflow["id"])
    assert failed["status"] == "failed" and failed["error"]["step"] == "c", failed
    return failed


async def test_retry_with_edited_inputs_reuses_the_steps_before_the_failure(
    client: httpx.AsyncClient, owner: Account, counting: Counter[str]
) -> None:
    failed = await _failed_run(client, owner)
    assert counting == {"a": 1, "b": 1, "c": 1}

    retried = await _retry(client, owner, failed["id"], {"inputs": {"ok": True}})

    assert retried["status"] == "succeeded", retried
    assert retried["outputs"] == {"result": 21}
    assert retried["retry_of"] == failed["id"] and retried["version"] == failed["version"]
    assert retried["inputs"] == {"ok": True}
    # a and b ran once in all: the retry took their results from the failed run.
    assert counting == {"a": 1, "b": 1, "c": 2, "d": 1}
    steps = steps_by_id(retried)
    assert [s["id"] for s in retried["steps"]] == ["a", "b", "c", "d"]
    assert steps["a"]["reused_from"] == steps["b"]["reused_from"] == failed["id"]
    assert steps["b"]["output"] == {"value": 2}
    assert steps["c"]["reused_from"] is None and steps["c"]["attempt"] == 1
    assert steps["c"]["input"] == {"ok": True, "value": 20}

    events = await _events(client, owner, retried["id"])
    assert events[:3] == ["run.retry", "step.reused", "step.reused"]
    assert events[-1] == "run.succeeded" and "step.started" in events
    assert (await _events(client, owner, failed["id"]))[-1] == "run.retried"
    original = (await client.get(f"/api/runs/{failed['id']}", headers=owner.headers)).json()
    assert original["status"] == "failed"  # the original is left as it was


async def test_edited_step_parameters_are_kept_on_the_run_and_by_later_retries(
    client: httpx.AsyncClient, owner: Account, counting: Counter[str]
) -> None:
    failed = await _failed_run(client, owner)

    fixed = await _retry(client, owner, failed["id"], {"with": {"c": {"ok": True}}})
    assert fixed["status"] == "succeeded", fixed
    assert fixed["inputs"] == {"ok": False}
    assert fixed["step_overrides"] == {
        "c": {"ok": True, "value": "{{ steps.b.output.value * 10 }}"}
    }
    assert counting == {"a": 1, "b": 1, "c": 2, "d": 1}

    # A retry of the retry from b, with b edited: a is reused, the override of c stays.
    again = await _retry(
        client, owner, fixed["id"], {"from_step": "b", "with": {"b": {"value": 7}}}
    )
    assert again["status"] == "succeeded", again
    assert again["outputs"] == {"result": 71}
    assert set(again["step_overrides"]) == {"b", "c"}
    assert counting == {"a": 1, "b": 2, "c": 3, "d": 2}
    steps = steps_by_id(again)
    assert steps["a"]["reused_from"] == fixed["id"]
    assert all(steps[s]["reused_from"] is None for s in "bcd")


async def test_retry_of_a_succeeded_run_from_a_step_reruns_only_what_follows(
    client: httpx.AsyncClient, owner: Account, counting: Counter[str]
) -> None:
    workflow = await save(client, owner, PIPELINE)
    first = await run(client, owner, workflow["id"], {"ok": True})
    assert first["status"] == "succeeded"
    again = await _retry(client, owner, first["id"], {"from_step": "d"})
    assert again["status"] == "succeeded" and again["outputs"] == {"result": 21}
    assert counting == {"a": 1, "b": 1, "c": 1, "d": 2}


async def test_retry_requests_are_validated(
    client: httpx.AsyncClient, owner: Account, counting: Counter[str]
) -> None:
    failed = await _failed_run(client, owner)
    url = f"/api/runs/{failed['id']}/retry"

    unknown = await client.post(
        url, json={"from_step": "cc", "with": {"bb": {"value": 1}}}, headers=owner.headers
    )
    assert unknown.status_code == 422
    errors = {e["pointer"]: e for e in unknown.json()["errors"]}
    assert errors["/from_step"]["hint"] == "did you mean 'c'?"
    assert errors["/with/bb"]["hint"] == "did you mean 'b'?"

    bad_param = await client.post(url, json={"with": {"c": {"okay": True}}}, headers=owner.headers)
    assert bad_param.status_code == 422
    assert bad_param.json()["errors"][0]["pointer"] == "/with/c/okay"
    assert bad_param.json()["errors"][0]["hint"] == "did you mean 'ok'?"

    bad_input = await client.post(url, json={"inputs": {"ok": "yes"}}, headers=owner.headers)
    assert bad_input.status_code == 422
    assert bad_input.json()["errors"][0]["pointer"] == "/inputs/ok"

    typo = await client.post(url, json={"form_step": "c"}, headers=owner.headers)
    assert typo.status_code == 422

    missing = await client.post(f"/api/runs/{uuid.uuid4()}/retry", json={}, headers=owner.headers)
    assert missing.status_code == 404
    assert counting == {"a": 1, "b": 1, "c": 1}  # nothing was started by refused retries


async def test_a_run_still_running_cannot_be_retried(
    client: httpx.AsyncClient, owner: Account
) -> None:
    workflow = await save(
        client, owner, "name: long\nsteps:\n  - {id: wait, uses: delay, with: {seconds: 30}}\n"
    )
    started = await client.post(
        f"/api/workflows/{workflow['id']}/runs", json={}, headers=owner.headers
    )
    run_id = started.json()["id"]
    refused = await client.post(f"/api/runs/{run_id}/retry", json={}, headers=owner.headers)
    assert refused.status_code == 409
    assert "cancel" in refused.json()["detail"]
    await client.post(f"/api/runs/{run_id}/cancel", headers=owner.headers)
    engine = client._transport.app.state.engine  # type: ignore[attr-defined]
    assert await engine.wait_for(uuid.UUID(run_id), 5) == "cancelled"
    # Once cancelled it can be: the cancelled step runs again.
    response = await client.post(
        f"/api/runs/{run_id}/retry",
        json={"with": {"wait": {"seconds": 0}}},
        headers=owner.headers,
    )
    assert response.status_code == 201, response.text
    assert await engine.wait_for(uuid.UUID(response.json()["id"]), 5) == "succeeded"
