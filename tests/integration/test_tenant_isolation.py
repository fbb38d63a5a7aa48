"""The cross-tenant matrix, generated from the app's route table.

For every route that addresses a resource by id, the owner of another tenant (who holds
every permission in their own tenant) must get 404 — never the data, never a change.
"""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.integration.identity.conftest import signup
from tests.integration.resources import EXEMPT, FACTORIES


def addressed_routes(app: FastAPI) -> list[tuple[str, str]]:
    routes = []
    for template, operations in app.openapi()["paths"].items():
        if "{" not in template:
            continue
        for method in operations:
            routes.append((template, method.upper()))
    return sorted(routes)


async def test_every_addressed_route_has_a_factory(app: FastAPI) -> None:
    missing = sorted({t for t, _ in addressed_routes(app)} - set(FACTORIES) - set(EXEMPT))
    assert not missing, f"register these in tests/integration/resources.py: {missing}"


async def test_other_tenants_get_404_on_every_addressed_route(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    victim = await signup(client, tenant_name="Victim")
    attacker = await signup(client, tenant_name="Attacker")
    checked = 0
    for template, method in addressed_routes(app):
        if template in EXEMPT:
            continue
        created = await FACTORIES[template](client, victim)
        path = template.format(**created.params)
        body = created.bodies.get(method)
        has_get = "get" in app.openapi()["paths"][template]
        before = (
            (await client.get(path, headers=victim.headers)).json()
            if method in created.upserts
            else None
        )
        response = await client.request(method, path, json=body, headers=attacker.headers)
        if method in created.upserts:
            assert response.status_code < 500
            assert (await client.get(path, headers=victim.headers)).json() == before, (
                method,
                template,
            )
            checked += 1
            continue
        assert response.status_code == 404, (method, template, response.status_code, response.text)
        leaked = [
            value
            for value in created.params.values()
            if value in response.text and value not in path
        ]
        assert not leaked
        if method == "DELETE" and has_get:
            still = await client.get(path, headers=victim.headers)
            assert still.status_code == 200, (method, template, "victim lost the resource")
        checked += 1
    assert checked >= 5
