"""The vector, embedding and state actions in a workflow, with real embeddings from the
bundled local model (all-MiniLM-L6-v2, 384 dimensions) through the in-process RelayCore."""

from __future__ import annotations

import httpx
import pytest

from auterity.relaycore.providers.local import local_model_installed
from tests.integration.automatrix.conftest import named, save_and_run, steps_by_id
from tests.integration.identity.conftest import Account, signup

INGEST = """
name: ingest
steps:
  - id: chunk
    uses: text.chunk
    with:
      size: 50
      overlap: 10
      documents:
        - id: cats
          text: "Cats are small furry pets. A kitten sleeps most of the day and purrs when happy."
          metadata: {topic: animals}
        - id: engines
          text: "A diesel engine burns fuel under compression. Pistons drive the crankshaft."
          metadata: {topic: machines}
  - id: store
    uses: vector.upsert
    with:
      collection: kb
      documents: "{{ steps.chunk.output.chunks }}"
      create: {model: local/all-minilm-l6-v2, dimensions: 384}
  - id: search
    uses: vector.search
    needs: [store]
    with: {collection: kb, text: "a young cat napping", top_k: 1}
  - id: filtered
    uses: vector.search
    needs: [store]
    with: {collection: kb, text: "a young cat napping", top_k: 5, filter: {topic: machines}}
  - id: embed
    uses: llm.embed
    with: {model: local/all-minilm-l6-v2, input: ["hello", "world"]}
  - id: previous
    uses: state.get
    with: {key: best, default: none}
  - id: remember
    uses: state.set
    needs: [previous]
    with: {key: best, value: "{{ steps.search.output.matches[0].id }}"}
"""


@pytest.mark.skipif(
    not local_model_installed("embedding"),
    reason="the bundled local embedding model (the `local` extra) is not installed",
)
async def test_chunk_embed_upsert_search_and_remember(client: httpx.AsyncClient) -> None:
    account: Account = await signup(client)
    spec = named(INGEST)
    first = await save_and_run(client, account, spec, timeout=120)
    assert first["status"] == "succeeded", first
    steps = steps_by_id(first)
    count = steps["chunk"]["output"]["count"]
    assert count >= 4  # two documents of ~80 characters, in chunks of at most 50
    assert all(len(c["text"]) <= 50 for c in steps["chunk"]["output"]["chunks"])
    assert steps["store"]["output"]["embedded"] == count
    assert steps["search"]["output"]["matches"][0]["id"].startswith("cats#")
    assert {m["metadata"]["topic"] for m in steps["filtered"]["output"]["matches"]} == {"machines"}
    embedded = steps["embed"]["output"]
    assert embedded["dimensions"] == 384 and len(embedded["vectors"]) == 2
    assert embedded["model"] == "local/all-minilm-l6-v2"
    assert steps["previous"]["output"] == {"found": False, "value": "none"}
    assert steps["remember"]["output"]["previous_found"] is False

    collection = await client.get("/api/vectors/collections/kb", headers=account.headers)
    assert (
        collection.json()["count"] == count
        and collection.json()["model"] == "local/all-minilm-l6-v2"
    )
    # The collection embeds query text with its own model over the API too.
    query = await client.post(
        "/api/vectors/collections/kb/query",
        json={"text": "pistons and fuel", "top_k": 1},
        headers=account.headers,
    )
    assert query.json()["matches"][0]["id"].startswith("engines#")


STATE = """
name: counter
steps:
  - id: previous
    uses: state.get
    with: {key: count, default: 0}
  - id: save
    uses: state.set
    with: {key: count, value: "{{ steps.previous.output.value + 1 }}"}
outputs:
  count: "{{ steps.previous.output.value + 1 }}"
"""


async def test_state_is_kept_between_runs_per_workflow_and_tenant(
    client: httpx.AsyncClient,
) -> None:
    account = await signup(client)
    spec = named(STATE)
    from tests.integration.automatrix.conftest import run, save

    workflow = await save(client, account, spec)
    counts = [(await run(client, account, workflow["id"]))["outputs"]["count"] for _ in range(3)]
    assert counts == [1, 2, 3]
    # Another workflow with the same key, and another tenant, start from nothing.
    assert (await save_and_run(client, account, named(STATE)))["outputs"]["count"] == 1
    other = await signup(client)
    assert (await save_and_run(client, other, named(STATE)))["outputs"]["count"] == 1
