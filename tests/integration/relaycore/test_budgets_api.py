"""`/api/relay/budgets`: CRUD with validation, permissions, audit, and the ledger seeing changes."""

from __future__ import annotations

import uuid

import httpx
import pytest
from fastapi import FastAPI

from auterity.core.errors import BudgetExceeded
from auterity.relaycore.accounting import RelayAccounting
from auterity.relaycore.payer import Payer
from tests.integration.identity.conftest import Account, add_member, assert_problem

BUDGETS = "/api/relay/budgets"


def accounting(app: FastAPI) -> RelayAccounting:
    relay: RelayAccounting = app.state.relay_accounting
    return relay


async def test_create_read_update_delete(
    client: httpx.AsyncClient, owner: Account, app: FastAPI
) -> None:
    key_id = str(uuid.uuid4())
    created = await client.post(
        BUDGETS,
        json={
            "name": "key cap",
            "scope": "api_key",
            "scope_id": key_id.upper(),
            "period": "day",
            "limit_micros": 2_000,
            "mode": "soft",
            "alert_threshold_percent": 90,
            "downgrade": True,
        },
        headers=owner.headers,
    )
    assert created.status_code == 201, created.text
    budget = created.json()
    assert budget["scope_id"] == key_id  # normalised, so it matches the key's id
    assert (budget["spent_micros"], budget["reserved_micros"]) == (0, 0)

    ledger = accounting(app).ledger
    who = Payer(uuid.UUID(owner.tenant_id), uuid.UUID(key_id))
    await ledger.settle(await ledger.reserve(who, 500), 300)
    read = (await client.get(f"{BUDGETS}/{budget['id']}", headers=owner.headers)).json()
    assert read["spent_micros"] == 300

    patched = await client.patch(
        f"{BUDGETS}/{budget['id']}",
        json={"mode": "hard", "limit_micros": 400},
        headers=owner.headers,
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["mode"], patched.json()["limit_micros"]) == ("hard", 400)
    # The ledger sees the change at once (its cached rules were dropped).
    with pytest.raises(BudgetExceeded):
        await ledger.reserve(who, 200)

    listed = (await client.get(BUDGETS, headers=owner.headers)).json()
    assert [b["id"] for b in listed] == [budget["id"]]
    assert (
        await client.delete(f"{BUDGETS}/{budget['id']}", headers=owner.headers)
    ).status_code == 204
    assert_problem(await client.get(f"{BUDGETS}/{budget['id']}", headers=owner.headers), 404)
    await ledger.release(await ledger.reserve(who, 10_000))

    audit = (await client.get("/api/audit", headers=owner.headers)).json()
    actions = [event["action"] for event in audit.get("items", audit)]
    assert {"relay.budget.created", "relay.budget.updated", "relay.budget.deleted"} <= set(actions)


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"scope": "tenant", "scope_id": "x"}, "/"),
        ({"scope": "workflow"}, "/"),
        ({"scope": "api_key", "scope_id": "not-a-uuid"}, "/"),
        ({"scope": "tenant", "limit_micros": -1}, "/limit_micros"),
        ({"scope": "tenant", "period": "week"}, "/period"),
        ({"scope": "tenant", "alert_threshold_percent": 0}, "/alert_threshold_percent"),
    ],
)
async def test_invalid_budgets_are_refused_with_a_problem(
    client: httpx.AsyncClient, owner: Account, body: dict[str, object], pointer: str
) -> None:
    payload = {"name": "b", "period": "month", "limit_micros": 1, **body}
    problem = assert_problem(await client.post(BUDGETS, json=payload, headers=owner.headers), 422)
    assert any(error["pointer"] == pointer for error in problem["errors"]), problem


async def test_budgets_need_relay_admin(client: httpx.AsyncClient, owner: Account) -> None:
    editor = await add_member(client, owner, "editor")
    assert_problem(await client.get(BUDGETS, headers=editor.headers), 403)
    body = {"name": "b", "scope": "tenant", "period": "month", "limit_micros": 1}
    assert_problem(await client.post(BUDGETS, json=body, headers=editor.headers), 403)
