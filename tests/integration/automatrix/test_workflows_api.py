"""Saving workflows through the API: a spec with any error is refused, whatever its kind."""

from __future__ import annotations

import httpx

from tests.integration.identity.conftest import Account


async def test_a_spec_with_meaning_errors_is_not_saved(
    client: httpx.AsyncClient, owner: Account
) -> None:
    spec = {
        "name": "typos",
        "steps": [
            {"id": "a", "uses": "transfrom"},
            {"id": "b", "uses": "transform", "needs": ["aa"]},
        ],
    }
    refused = await client.post("/api/workflows", json=spec, headers=owner.headers)
    assert refused.status_code == 422, refused.text
    errors = {e["pointer"]: e for e in refused.json()["errors"]}
    assert errors["/steps/0/uses"]["hint"] == "did you mean 'transform'?"
    assert errors["/steps/1/needs/0"]["message"] == "unknown step 'aa'"
    listed = await client.get("/api/workflows", headers=owner.headers)
    assert listed.json()["items"] == []
