"""SDK code deployed through the API (`POST /api/python-modules`) and run by `python.step`:
only tenants the operator trusts may deploy; arguments are checked against type hints."""

from __future__ import annotations

import httpx

from auterity.sdk import Workflow
from tests.integration.automatrix.conftest import run, save, steps_by_id
from tests.integration.identity.conftest import Account

SOURCE = """
from auterity.sdk import step, workflow


@step
def double(n: int) -> int:
    print("doubling", n)
    return n * 2


@step
def describe(value: int, label: str) -> dict:
    if value > 100:
        raise ValueError(f"{value} is too big")
    return {"label": label, "value": value}


@workflow
def pipeline(n: int, label: str = "x") -> dict:
    return describe(double(n), label)
"""


def compiled(ref: str) -> dict[str, object]:
    namespace: dict[str, object] = {}
    exec(compile(SOURCE, "flows.py", "exec"), namespace)
    flow = namespace["pipeline"]
    assert isinstance(flow, Workflow)
    return flow.compile(ref)


async def deploy(client: httpx.AsyncClient, owner: Account) -> httpx.Response:
    return await client.post(
        "/api/python-modules", json={"name": "flows", "source": SOURCE}, headers=owner.headers
    )


async def test_an_untrusted_tenant_cannot_deploy_in_process_code(
    client: httpx.AsyncClient, owner: Account
) -> None:
    refused = await deploy(client, owner)
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert "AUTERITY_SDK_TRUSTED_TENANTS" in refused.json()["detail"]


async def test_a_trusted_tenants_deployed_workflow_runs_through_the_api(
    client: httpx.AsyncClient, owner: Account
) -> None:
    app = client._transport.app  # type: ignore[attr-defined]
    app.state.runtime.settings.sdk_trusted_tenants = [owner.tenant_slug]
    deployed = await deploy(client, owner)
    assert deployed.status_code == 201, deployed.text
    ref = deployed.json()["ref"]
    assert ref.startswith("flows@") and len(ref) == len("flows@") + 16
    assert (await deploy(client, owner)).json()["ref"] == ref  # same content, same ref

    workflow = await save(client, owner, compiled(ref))
    body = await run(client, owner, workflow["id"], {"n": 21, "label": "answer"})
    assert body["status"] == "succeeded", body
    assert body["outputs"] == {"result": {"label": "answer", "value": 42}}
    assert steps_by_id(body)["double"]["logs"] == []  # prints of trusted code go to stdout

    too_big = await run(client, owner, workflow["id"], {"n": 60})
    error = steps_by_id(too_big)["describe"]["error"]
    assert error["message"] == "ValueError: 120 is too big"
    assert f"<{ref}>" in error["details"]["traceback"]


async def test_arguments_are_checked_against_the_type_hints(
    client: httpx.AsyncClient, owner: Account
) -> None:
    app = client._transport.app  # type: ignore[attr-defined]
    app.state.runtime.settings.sdk_trusted_tenants = [owner.tenant_id]
    ref = (await deploy(client, owner)).json()["ref"]
    spec = {
        "name": "typed",
        "steps": [
            {
                "id": "d",
                "uses": "python.step",
                "with": {"function": f"{ref}:double", "args": {"n": "not a number"}},
            }
        ],
    }
    body = await run(client, owner, (await save(client, owner, spec))["id"])
    error = steps_by_id(body)["d"]["error"]
    assert error["kind"] == "client_error"
    assert error["message"].startswith("invalid arguments: n: Input should be a valid integer")


async def test_a_module_of_another_tenant_is_not_found(
    client: httpx.AsyncClient, owner: Account
) -> None:
    from tests.integration.identity.conftest import signup

    app = client._transport.app  # type: ignore[attr-defined]
    app.state.runtime.settings.sdk_trusted_tenants = [owner.tenant_slug]
    ref = (await deploy(client, owner)).json()["ref"]
    other = await signup(client)
    body = await run(client, other, (await save(client, other, compiled(ref)))["id"], {"n": 1})
    error = steps_by_id(body)["double"]["error"]
    assert error == {
        "kind": "client_error",
        "message": f"module {ref} is not deployed in this tenant",
    }
