"""Vector collections through the API on SQLite (sqlite-vec) and PostgreSQL (the database
store): collections, upsert, search with filters, deletes and the problems a user can cause."""

from __future__ import annotations

import httpx
import pytest

from auterity.core.settings import Settings
from tests.integration.identity.conftest import Account, assert_problem, signup

BASE = "/api/vectors/collections"
DOCS = [
    {"id": "north", "vector": [1, 0, 0], "metadata": {"lang": "en", "year": 2024}},
    {"id": "east", "vector": [0, 1, 0], "metadata": {"lang": "de", "year": 2023}},
    {"id": "mostly-north", "vector": [0.9, 0.1, 0], "metadata": {"lang": "en", "draft": True}},
    {"id": "south", "vector": [-1, 0, 0], "text": "far away", "metadata": {"lang": "en"}},
]


@pytest.fixture
async def owner(client: httpx.AsyncClient) -> Account:
    return await signup(client)


async def make(client: httpx.AsyncClient, owner: Account, name: str, **spec: object) -> None:
    created = await client.post(
        BASE, json={"name": name, "dimensions": 3, **spec}, headers=owner.headers
    )
    assert created.status_code == 201, created.text


async def test_collections_upsert_and_search(
    client: httpx.AsyncClient, owner: Account, settings: Settings
) -> None:
    await make(client, owner, "places")
    up = await client.post(
        f"{BASE}/places/documents", json={"documents": DOCS}, headers=owner.headers
    )
    assert up.status_code == 200, up.text
    assert up.json()["upserted"] == 4 and up.json()["embedded"] == 0

    got = (await client.get(f"{BASE}/places", headers=owner.headers)).json()
    expected_store = "sqlite-vec" if settings.database_url.startswith("sqlite") else "database"
    assert got["count"] == 4 and got["metric"] == "cosine" and got["store"] == expected_store

    query = await client.post(
        f"{BASE}/places/query", json={"vector": [1, 0.05, 0], "top_k": 3}, headers=owner.headers
    )
    matches = query.json()["matches"]
    assert [m["id"] for m in matches] == ["north", "mostly-north", "east"]
    assert matches[0]["score"] == pytest.approx(1 - matches[0]["distance"])
    assert matches[0]["score"] > 0.99 and matches[0]["metadata"] == {"lang": "en", "year": 2024}

    # Filters: equality, any-of, and JSON types kept apart (true is not 1).
    async def ids(where: dict[str, object]) -> list[str]:
        answer = await client.post(
            f"{BASE}/places/query",
            json={"vector": [1, 0, 0], "top_k": 10, "filter": where},
            headers=owner.headers,
        )
        assert answer.status_code == 200, answer.text
        return [m["id"] for m in answer.json()["matches"]]

    assert await ids({"lang": "de"}) == ["east"]
    assert await ids({"lang": "en"}) == ["north", "mostly-north", "south"]
    assert await ids({"year": [2023, 2024]}) == ["north", "east"]
    assert await ids({"draft": True}) == ["mostly-north"]
    assert await ids({"draft": 1}) == []

    # Upserting an id replaces it; deleting removes it.
    moved = {"id": "east", "vector": [1, 0, 0.01], "metadata": {"lang": "fr"}}
    await client.post(
        f"{BASE}/places/documents", json={"documents": [moved]}, headers=owner.headers
    )
    assert await ids({"lang": "fr"}) == ["east"]
    deleted = await client.post(
        f"{BASE}/places/documents/delete", json={"ids": ["east", "nope"]}, headers=owner.headers
    )
    assert deleted.json() == {"deleted": 1}
    gone = await client.delete(f"{BASE}/places/documents/east", headers=owner.headers)
    assert_problem(gone, 404)
    assert (
        await client.delete(f"{BASE}/places/documents/south", headers=owner.headers)
    ).status_code == 204
    assert (await client.get(f"{BASE}/places", headers=owner.headers)).json()["count"] == 2


async def test_metrics_l2_and_dot(client: httpx.AsyncClient, owner: Account) -> None:
    docs = [{"id": "a", "vector": [1, 1, 0]}, {"id": "b", "vector": [3, 0, 0]}]
    for metric in ("l2", "dot"):
        await make(client, owner, metric, metric=metric)
        await client.post(
            f"{BASE}/{metric}/documents", json={"documents": docs}, headers=owner.headers
        )
        answer = await client.post(
            f"{BASE}/{metric}/query", json={"vector": [1, 1, 0]}, headers=owner.headers
        )
        matches = answer.json()["matches"]
        if metric == "l2":  # a is the point itself; b is sqrt(5) away
            assert [m["id"] for m in matches] == ["a", "b"]
            assert matches[1]["distance"] == pytest.approx(5**0.5, rel=1e-5)
        else:  # b.q = 3 beats a.q = 2
            assert [m["id"] for m in matches] == ["b", "a"]
            assert [m["score"] for m in matches] == pytest.approx([3.0, 2.0], rel=1e-5)


async def test_problems_a_user_can_cause(client: httpx.AsyncClient, owner: Account) -> None:
    await make(client, owner, "docs")
    wrong = await client.post(
        f"{BASE}/docs/documents",
        json={"documents": [{"id": "x", "vector": [1, 2, 3]}, {"id": "y", "vector": [1, 2]}]},
        headers=owner.headers,
    )
    problem = assert_problem(wrong, 422)
    assert problem["expected"] == 3 and problem["got"] == 2
    assert problem["errors"][0]["pointer"] == "/documents/1/vector"
    assert "3 dimensions" in problem["detail"]
    # Nothing of a refused batch was written.
    assert (await client.get(f"{BASE}/docs", headers=owner.headers)).json()["count"] == 0

    assert_problem(
        await client.post(f"{BASE}/nope/query", json={"vector": [1]}, headers=owner.headers), 404
    )
    assert_problem(await client.get(f"{BASE}/nope", headers=owner.headers), 404)
    duplicate = await client.post(
        BASE, json={"name": "docs", "dimensions": 3}, headers=owner.headers
    )
    assert_problem(duplicate, 409)
    no_model = await client.post(
        f"{BASE}/docs/documents",
        json={"documents": [{"id": "t", "text": "hi"}]},
        headers=owner.headers,
    )
    assert "no embedding model" in assert_problem(no_model, 422)["detail"]
    zero = await client.post(
        f"{BASE}/docs/query", json={"vector": [0, 0, 0]}, headers=owner.headers
    )
    assert "zero vector" in assert_problem(zero, 422)["detail"]
    both = await client.post(
        f"{BASE}/docs/query", json={"vector": [1, 0, 0], "text": "x"}, headers=owner.headers
    )
    assert_problem(both, 422)
    assert_problem(
        await client.post(BASE, json={"name": "bad name!", "dimensions": 3}, headers=owner.headers),
        422,
    )

    # Another tenant sees none of it, and may use the same names.
    other = await signup(client)
    assert (await client.get(BASE, headers=other.headers)).json() == {"items": []}
    assert_problem(await client.get(f"{BASE}/docs", headers=other.headers), 404)
    await make(client, other, "docs")
    assert (await client.delete(f"{BASE}/docs", headers=owner.headers)).status_code == 204
    assert [c["name"] for c in (await client.get(BASE, headers=other.headers)).json()["items"]] == [
        "docs"
    ]
