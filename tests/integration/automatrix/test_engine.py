"""The engine end to end through the API, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import itertools
import json
import time

import httpx
from pydantic import BaseModel

from auterity.automatrix.actions.base import Action, ActionContext, ActionInput
from tests.integration.automatrix.conftest import run, save, save_and_run, steps_by_id
from tests.integration.identity.conftest import Account

DIAMOND = """
name: diamond
inputs:
  type: object
  properties: {x: {type: integer, default: 1}}
steps:
  - id: a
    uses: transform
    with: {value: "{{ inputs.x + 1 }}"}
  - id: b
    uses: delay
    with: {seconds: 1}
    needs: [a]
  - id: c
    uses: delay
    with: {seconds: 1}
    needs: [a]
  - id: d
    uses: transform
    with: {value: "{{ steps.a.output.value * 10 }}"}
    needs: [b, c]
outputs:
  result: "{{ steps.d.output.value }}"
"""


async def test_the_diamond_example_runs_b_and_c_in_parallel(
    client: httpx.AsyncClient, owner: Account
) -> None:
    started = time.monotonic()
    body = await save_and_run(client, owner, DIAMOND, {"x": 4})
    elapsed = time.monotonic() - started
    assert body["status"] == "succeeded", body
    assert body["outputs"] == {"result": 50}
    steps = steps_by_id(body)
    assert [steps[s]["status"] for s in "abcd"] == ["succeeded"] * 4
    assert steps["a"]["output"] == {"value": 5}
    # b and c each wait 1 s; they overlap (asserted below), so the run takes about 1 s, not 2.
    # Wall time on a loaded machine is not asserted beyond the waits having happened.
    assert elapsed > 0.9, elapsed
    assert steps["b"]["started_at"] < steps["c"]["finished_at"]
    assert steps["c"]["started_at"] < steps["b"]["finished_at"]


async def test_defaults_and_input_validation(client: httpx.AsyncClient, owner: Account) -> None:
    workflow = await save(client, owner, DIAMOND.replace("seconds: 1", "seconds: 0"))
    bad = await client.post(
        f"/api/workflows/{workflow['id']}/runs",
        json={"inputs": {"x": "four"}},
        headers=owner.headers,
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["pointer"] == "/inputs/x"
    ok = await client.post(f"/api/workflows/{workflow['id']}/runs", json={}, headers=owner.headers)
    assert ok.status_code == 201 and ok.json()["inputs"] == {"x": 1}


async def test_a_slow_branch_does_not_delay_an_independent_fast_branch(
    client: httpx.AsyncClient, owner: Account
) -> None:
    spec = """
name: wide
steps:
  - {id: slow, uses: delay, with: {seconds: 1}}
  - {id: fast1, uses: transform, with: {value: 1}}
  - {id: fast2, uses: transform, with: {value: "{{ steps.fast1.output.value + 1 }}"}}
  - {id: fast3, uses: transform, with: {value: "{{ steps.fast2.output.value + 1 }}"}}
outputs: {fast: "{{ steps.fast3.output.value }}", slow: "{{ steps.slow.status }}"}
"""
    body = await save_and_run(client, owner, spec)
    steps = steps_by_id(body)
    assert body["outputs"] == {"fast": 3, "slow": "succeeded"}
    assert steps["fast3"]["finished_at"] < steps["slow"]["finished_at"]


async def test_conditions_skip_untaken_branches(client: httpx.AsyncClient, owner: Account) -> None:
    spec = """
name: branches
inputs: {type: object, properties: {amount: {type: number}}}
steps:
  - {id: check, uses: condition, with: {value: "{{ inputs.amount > 100 }}"}}
  - {id: big, uses: transform, if: "steps.check.output.result", with: {value: big}}
  - {id: small, uses: transform, if: "not steps.check.output.result", with: {value: small}}
  - {id: after_big, uses: transform, needs: [big], with: {value: done}}
outputs: {path: "{{ steps.small.output.value }}"}
"""
    body = await save_and_run(client, owner, spec, {"amount": 5})
    steps = steps_by_id(body)
    assert body["status"] == "succeeded", body
    assert steps["big"]["status"] == "skipped" and steps["small"]["status"] == "succeeded"
    assert steps["after_big"]["status"] == "skipped"  # depends on a skipped step
    assert body["outputs"] == {"path": "small"}


async def test_failure_fails_the_run_and_names_the_step(
    client: httpx.AsyncClient, owner: Account
) -> None:
    spec = """
name: failing
steps:
  - {id: boom, uses: fail, with: {message: "card declined"}}
  - {id: later, uses: transform, needs: [boom], with: {value: 1}}
"""
    body = await save_and_run(client, owner, spec)
    assert body["status"] == "failed"
    assert body["error"]["step"] == "boom" and "card declined" in body["error"]["message"]
    steps = steps_by_id(body)
    assert steps["boom"]["error"]["message"] == "card declined"
    assert steps["later"]["status"] == "cancelled"


async def test_on_error_continue_and_fallback(client: httpx.AsyncClient, owner: Account) -> None:
    spec = """
name: recovering
steps:
  - {id: flaky, uses: fail, on_error: continue}
  - {id: primary, uses: fail, on_error: backup}
  - {id: backup, uses: transform, with: {value: "from backup"}}
  - {id: use, uses: transform, needs: [primary], with: {value: "{{ steps.backup.output.value }}"}}
  - {id: unused_fallback_source, uses: transform, with: {value: 1}, on_error: spare}
  - {id: spare, uses: transform, with: {value: 2}}
outputs: {value: "{{ steps.use.output.value }}", flaky: "{{ steps.flaky.status }}"}
"""
    body = await save_and_run(client, owner, spec)
    steps = steps_by_id(body)
    assert body["status"] == "succeeded", body
    assert body["outputs"] == {"value": "from backup", "flaky": "failed"}
    assert steps["primary"]["status"] == "failed" and steps["backup"]["status"] == "succeeded"
    assert steps["spare"]["status"] == "skipped"


async def test_retries_with_backoff_then_give_up(client: httpx.AsyncClient, owner: Account) -> None:
    spec = """
name: retrying
steps:
  - id: flaky
    uses: fail
    with: {message: "upstream 503", kind: server_error}
    retry: {max_attempts: 3, backoff: {initial: 0.05, factor: 2, max: 1}, jitter: false}
"""
    body = await save_and_run(client, owner, spec)
    step = steps_by_id(body)["flaky"]
    assert body["status"] == "failed" and step["attempt"] == 3
    events = await client.get(f"/api/runs/{body['id']}/events", headers=owner.headers)
    types = [
        line.split(": ", 1)[1] for line in events.text.splitlines() if line.startswith("event: ")
    ]
    assert types.count("step.retrying") == 2 and types[-1] == "run.failed"


async def test_non_retryable_errors_are_not_retried(
    client: httpx.AsyncClient, owner: Account
) -> None:
    spec = """
name: client-error
steps:
  - id: bad
    uses: fail
    with: {kind: client_error}
    retry: {max_attempts: 5}
"""
    body = await save_and_run(client, owner, spec)
    assert steps_by_id(body)["bad"]["attempt"] == 1


async def test_for_each_keeps_order_and_respects_concurrency(
    client: httpx.AsyncClient, owner: Account
) -> None:
    spec = """
name: fanout
steps:
  - id: each
    uses: transform
    for_each: "{{ range(8) | list }}"
    concurrency: 3
    with: {value: "{{ item * item }}"}
outputs: {squares: "{{ steps.each.output | map(attribute='value') | list }}"}
"""
    body = await save_and_run(client, owner, spec)
    assert body["status"] == "succeeded", body
    assert body["outputs"] == {"squares": [0, 1, 4, 9, 16, 25, 36, 49]}


class SleepInput(ActionInput):
    seconds: float


class SleepOutput(BaseModel):
    slept: float


class Sleep(Action[SleepInput, SleepOutput]):
    """Holds the worker (unlike `delay`), to exercise step timeouts."""

    name = "test.sleep"
    Input = SleepInput
    Output = SleepOutput

    async def run(self, ctx: ActionContext, params: SleepInput) -> SleepOutput:
        await asyncio.sleep(params.seconds)
        return SleepOutput(slept=params.seconds)


async def test_step_timeout_fails_the_attempt_as_a_timeout(
    client: httpx.AsyncClient, owner: Account
) -> None:
    app = client._transport.app  # type: ignore[attr-defined]
    app.state.actions = app.state.engine.registry = app.state.actions.with_overrides(
        {"test.sleep": Sleep}
    )
    spec = """
name: slow
steps:
  - {id: wait, uses: test.sleep, with: {seconds: 5}, timeout: 0.2,
     retry: {max_attempts: 2, backoff: {initial: 0.01}, jitter: false}}
"""
    started = time.monotonic()
    body = await save_and_run(client, owner, spec)
    step = steps_by_id(body)["wait"]
    assert body["status"] == "failed" and step["attempt"] == 2
    assert step["error"] == {"kind": "timeout", "message": "timed out after 0.2s"}
    # Not a speed check: an attempt that was not cut would sleep its full 5 s.
    assert time.monotonic() - started < 5


async def test_cancel_mid_run(client: httpx.AsyncClient, owner: Account) -> None:
    import uuid

    workflow = await save(
        client, owner, "name: long\nsteps:\n  - {id: wait, uses: delay, with: {seconds: 30}}\n"
    )
    started = (
        await client.post(f"/api/workflows/{workflow['id']}/runs", json={}, headers=owner.headers)
    ).json()
    engine = client._transport.app.state.engine  # type: ignore[attr-defined]
    for _ in range(50):
        status = (await client.get(f"/api/runs/{started['id']}", headers=owner.headers)).json()[
            "steps"
        ]
        if status and status[0]["status"] == "waiting":
            break
        await __import__("asyncio").sleep(0.05)
    cancelled = await client.post(f"/api/runs/{started['id']}/cancel", headers=owner.headers)
    assert cancelled.status_code == 200
    assert await engine.wait_for(uuid.UUID(started["id"]), 5) == "cancelled"
    body = (await client.get(f"/api/runs/{started['id']}", headers=owner.headers)).json()
    assert body["steps"][0]["status"] == "cancelled"
    again = await client.post(f"/api/runs/{started['id']}/cancel", headers=owner.headers)
    assert again.status_code == 409


APPROVAL = """
name: expense
steps:
  - {id: ask, uses: approval, with: {message: "Pay 500?", approvers: [editor], timeout: 30}}
  - {id: pay, uses: transform, needs: [ask], with: {value: "{{ steps.ask.output.decided_by }}"}}
outputs: {paid_by_approval_of: "{{ steps.pay.output.value }}"}
"""


async def _wait_for_status(
    client: httpx.AsyncClient, owner: Account, run_id: str, status: str
) -> dict:  # type: ignore[type-arg]
    for _ in range(100):
        body = (await client.get(f"/api/runs/{run_id}", headers=owner.headers)).json()
        if body["status"] == status:
            return body  # type: ignore[no-any-return]
        await asyncio.sleep(0.05)
    raise AssertionError(f"run never became {status}: {body}")


async def _event_lines(client: httpx.AsyncClient, owner: Account, run_id: str) -> list[str]:
    """The run's event stream, checked to be numbered 1, 2, 3... with no gap or repeat."""
    stream = await client.get(f"/api/runs/{run_id}/events", headers=owner.headers)
    lines = stream.text.splitlines()
    seqs = [int(line.split(": ", 1)[1]) for line in lines if line.startswith("id: ")]
    assert seqs == list(range(1, len(seqs) + 1))
    return lines


def _decisions(lines: list[str]) -> list[dict]:  # type: ignore[type-arg]
    return [
        json.loads(data.split(": ", 1)[1])
        for kind, data in itertools.pairwise(lines)
        if kind == "event: step.succeeded" and '"ask"' in data
    ]


async def test_approval_waits_then_continues(client: httpx.AsyncClient, owner: Account) -> None:
    import uuid

    from tests.integration.identity.conftest import add_member

    editor = await add_member(client, owner, "editor")
    viewer = await add_member(client, owner, "viewer")
    workflow = await save(client, owner, APPROVAL)
    started = (
        await client.post(f"/api/workflows/{workflow['id']}/runs", json={}, headers=owner.headers)
    ).json()
    waiting = await _wait_for_status(client, owner, started["id"], "waiting")
    assert steps_by_id(waiting)["ask"]["status"] == "waiting"
    url = f"/api/runs/{started['id']}/steps/ask"
    assert (
        await client.post(f"{url}/approve", json={}, headers=owner.headers)
    ).status_code == 403  # not listed
    assert (await client.post(f"{url}/approve", json={}, headers=viewer.headers)).status_code == 403
    assert (
        await client.post(
            f"/api/runs/{started['id']}/steps/pay/approve", json={}, headers=editor.headers
        )
    ).status_code in (404, 409)
    decided = await client.post(f"{url}/approve", json={"comment": "ok"}, headers=editor.headers)
    assert decided.status_code == 200 and decided.json()["status"] == "succeeded"
    engine = client._transport.app.state.engine  # type: ignore[attr-defined]
    assert await engine.wait_for(uuid.UUID(started["id"]), 10) == "succeeded"
    final = (await client.get(f"/api/runs/{started['id']}", headers=owner.headers)).json()
    assert final["outputs"] == {"paid_by_approval_of": editor.email}
    again = await client.post(f"{url}/reject", json={}, headers=editor.headers)
    assert again.status_code == 409
    # The decision changed only the step row; the run's driver announced it, numbering it
    # with the run's other events: consecutive numbers, the decision once, with its author.
    lines = await _event_lines(client, owner, started["id"])
    decisions = _decisions(lines)
    assert len(decisions) == 1 and decisions[0]["data"]["decided_by"] == editor.email
    audit = (
        await client.get(
            "/api/audit", params={"action": "workflow.approval"}, headers=owner.headers
        )
    ).json()
    assert audit["items"][0]["outcome"] == "approved"


async def test_a_decision_while_no_engine_drives_the_run_is_announced_and_the_run_resumes(
    client: httpx.AsyncClient, owner: Account
) -> None:
    import uuid

    from auterity.automatrix.engine import Engine
    from auterity.automatrix.events import events_after
    from tests.integration.identity.conftest import add_member

    editor = await add_member(client, owner, "editor")
    workflow = await save(client, owner, APPROVAL)
    started = (
        await client.post(f"/api/workflows/{workflow['id']}/runs", json={}, headers=owner.headers)
    ).json()
    run_id = started["id"]
    await _wait_for_status(client, owner, run_id, "waiting")
    # The only engine stops (handing the run back): nobody drives the run when it is decided.
    engine = client._transport.app.state.engine  # type: ignore[attr-defined]
    await engine.stop()
    url = f"/api/runs/{run_id}/steps/ask/approve"
    decided = await client.post(url, json={"comment": "ok"}, headers=editor.headers)
    assert decided.status_code == 200, decided.text
    # Stored now, not when an engine comes back (the stream would wait for the run's end).
    async with engine.db.session(readonly=True) as session:
        stored = await events_after(session, uuid.UUID(run_id), 0)
    assert stored[-1].type == "step.succeeded" and stored[-1].data["step"] == "ask"
    successor = Engine(engine.db, engine.registry)
    await successor.start()
    try:
        assert await successor.wait_for(uuid.UUID(run_id), 10) == "succeeded"
    finally:
        await successor.stop()
    final = (await client.get(f"/api/runs/{run_id}", headers=owner.headers)).json()
    assert final["outputs"] == {"paid_by_approval_of": editor.email}
    lines = await _event_lines(client, owner, run_id)
    decisions = _decisions(lines)
    assert len(decisions) == 1 and decisions[0]["data"]["decided_by"] == editor.email
    assert lines.count("event: run.succeeded") == 1


async def test_rejection_and_timeout_fail_the_step(
    client: httpx.AsyncClient, owner: Account
) -> None:
    import uuid

    engine = client._transport.app.state.engine  # type: ignore[attr-defined]
    workflow = await save(client, owner, APPROVAL.replace("approvers: [editor], ", ""))
    started = (
        await client.post(f"/api/workflows/{workflow['id']}/runs", json={}, headers=owner.headers)
    ).json()
    await _wait_for_status(client, owner, started["id"], "waiting")
    await client.post(
        f"/api/runs/{started['id']}/steps/ask/reject",
        json={"comment": "too much"},
        headers=owner.headers,
    )
    assert await engine.wait_for(uuid.UUID(started["id"]), 10) == "failed"
    body = (await client.get(f"/api/runs/{started['id']}", headers=owner.headers)).json()
    assert "too much" in steps_by_id(body)["ask"]["error"]["message"]

    quick = await save(
        client,
        owner,
        APPROVAL.replace("name: expense", "name: quick").replace("timeout: 30", "timeout: 0.3"),
    )
    timed = await run(client, owner, quick["id"])
    assert timed["status"] == "failed"
    assert steps_by_id(timed)["ask"]["error"]["kind"] == "rejected"


async def test_sub_workflows(client: httpx.AsyncClient, owner: Account) -> None:
    await save(
        client,
        owner,
        """
name: child
inputs: {type: object, properties: {n: {type: integer}}, required: [n]}
steps:
  - {id: double, uses: transform, with: {value: "{{ inputs.n * 2 }}"}}
outputs: {doubled: "{{ steps.double.output.value }}"}
""",
    )
    body = await save_and_run(
        client,
        owner,
        """
name: parent
steps:
  - {id: call, uses: workflow.call, with: {workflow: child, inputs: {n: 21}}}
  - {id: bad_call, uses: workflow.call, with: {workflow: child, inputs: {}}, on_error: continue}
  - {id: missing, uses: workflow.call, with: {workflow: nope}, on_error: continue}
outputs: {answer: "{{ steps.call.output.outputs.doubled }}"}
""",
    )
    assert body["status"] == "succeeded", body
    assert body["outputs"] == {"answer": 42}
    steps = steps_by_id(body)
    child = (
        await client.get(f"/api/runs/{steps['call']['output']['run_id']}", headers=owner.headers)
    ).json()
    assert child["status"] == "succeeded" and child["outputs"] == {"doubled": 42}
    assert "/inputs" in str(steps["bad_call"]["error"]) and steps["bad_call"]["status"] == "failed"
    assert "no workflow 'nope'" in steps["missing"]["error"]["message"]


async def test_recursive_sub_workflows_stop_at_the_depth_limit(
    client: httpx.AsyncClient, owner: Account
) -> None:
    body = await save_and_run(
        client,
        owner,
        """
name: forever
steps:
  - {id: again, uses: workflow.call, with: {workflow: forever}}
""",
        timeout=60,
    )
    assert body["status"] == "failed"
    assert "sub-workflow" in body["error"]["message"]


async def test_cancelling_a_parent_cancels_its_child(
    client: httpx.AsyncClient, owner: Account
) -> None:
    import uuid

    engine = client._transport.app.state.engine  # type: ignore[attr-defined]
    await save(
        client, owner, "name: sleeper\nsteps:\n  - {id: nap, uses: delay, with: {seconds: 60}}\n"
    )
    parent = await save(
        client,
        owner,
        "name: caller\nsteps:\n  - {id: call, uses: workflow.call, with: {workflow: sleeper}}\n",
    )
    started = (
        await client.post(f"/api/workflows/{parent['id']}/runs", json={}, headers=owner.headers)
    ).json()
    child_id = None
    for _ in range(100):
        runs = (
            await client.get("/api/runs", params={"status": "waiting"}, headers=owner.headers)
        ).json()["items"]
        child_id = next((r["id"] for r in runs if r["id"] != started["id"]), None)
        if child_id:
            break
        await asyncio.sleep(0.05)
    assert child_id, "the child run never started waiting"
    await client.post(f"/api/runs/{started['id']}/cancel", headers=owner.headers)
    assert await engine.wait_for(uuid.UUID(started["id"]), 10) == "cancelled"
    assert await engine.wait_for(uuid.UUID(child_id), 10) == "cancelled"


async def test_expense_example_auto_approves_small_amounts(
    client: httpx.AsyncClient, owner: Account
) -> None:
    from pathlib import Path

    spec = (Path(__file__).parents[3] / "examples" / "expense-approval.yaml").read_text()
    body = await save_and_run(client, owner, spec, {"amount": 20, "employee": "Ada"})
    assert body["status"] == "succeeded", body
    steps = steps_by_id(body)
    assert steps["approve"]["status"] == "skipped" and steps["record"]["status"] == "succeeded"
    assert body["outputs"] == {"approved_by": "auto"}


async def test_large_outputs_go_to_the_artifact_store(
    client: httpx.AsyncClient, owner: Account
) -> None:
    body = await save_and_run(
        client,
        owner,
        """
name: big
steps:
  - {id: make, uses: transform, with: {value: "{{ 'x' * 300000 }}"}}
  - {id: use, uses: transform, with: {value: "{{ steps.make.output.value | length }}"}}
outputs: {length: "{{ steps.use.output.value }}"}
""",
    )
    assert body["status"] == "succeeded" and body["outputs"] == {"length": 300000}
    stored = steps_by_id(body)["make"]["output"]
    assert set(stored) == {"$artifact", "bytes"} and stored["bytes"] > 300000
    full = await client.get(f"/api/runs/{body['id']}/steps/make/output", headers=owner.headers)
    assert full.status_code == 200 and len(full.json()["value"]) == 300000
