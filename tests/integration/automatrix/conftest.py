"""Helpers: save a workflow through the API and run it to the end."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
import yaml

from tests.integration.identity.conftest import Account, signup


@pytest.fixture
async def owner(client: httpx.AsyncClient) -> Account:
    return await signup(client)


async def save(
    client: httpx.AsyncClient, account: Account, spec: str | dict[str, Any]
) -> dict[str, Any]:
    if isinstance(spec, str):
        response = await client.post(
            "/api/workflows",
            content=spec,
            headers={**account.headers, "content-type": "application/yaml"},
        )
    else:
        response = await client.post("/api/workflows", json=spec, headers=account.headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def run(
    client: httpx.AsyncClient,
    account: Account,
    workflow_id: str,
    inputs: dict[str, Any] | None = None,
    timeout: float = 30,
) -> dict[str, Any]:
    started = await client.post(
        f"/api/workflows/{workflow_id}/runs", json={"inputs": inputs or {}}, headers=account.headers
    )
    assert started.status_code == 201, started.text
    run_id = started.json()["id"]
    engine = client._transport.app.state.engine  # type: ignore[attr-defined]
    await engine.wait_for(uuid.UUID(run_id), timeout)
    body: dict[str, Any] = (await client.get(f"/api/runs/{run_id}", headers=account.headers)).json()
    return body


async def save_and_run(
    client: httpx.AsyncClient,
    account: Account,
    spec: str,
    inputs: dict[str, Any] | None = None,
    timeout: float = 30,
) -> dict[str, Any]:
    workflow = await save(client, account, spec)
    return await run(client, account, workflow["id"], inputs, timeout)


def steps_by_id(run_body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {step["id"]: step for step in run_body["steps"]}


def named(spec: str) -> str:
    """Give a YAML spec a unique name (workflow names are unique per tenant)."""
    document = yaml.safe_load(spec)
    document["name"] = f"{document['name']}-{uuid.uuid4().hex[:6]}"
    return yaml.safe_dump(document)
