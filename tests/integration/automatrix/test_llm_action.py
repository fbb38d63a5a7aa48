# ruff: noqa: F811 - pytest injects the imported gateway fixtures by parameter name
"""`llm.chat` runs through RelayCore: in-process when one app serves both, over HTTP with the
tenant's key when RelayCore runs apart. The upstream is a local server speaking OpenAI's wire
format (tests/fixtures/llm_upstreams.py)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from auterity.api import create_app
from auterity.core.database import Database
from auterity.core.settings import Settings
from tests.fixtures.llm_upstreams import Fault, Upstreams
from tests.integration.automatrix.conftest import named, save_and_run, steps_by_id
from tests.integration.identity.conftest import Account, signup

# The gateway's fixtures, shared with its own tests (imported: they live in its conftest).
from tests.integration.relaycore.conftest import (  # noqa: F401
    relay_settings,
    serve_relay,
    upstreams,
)

CLASSIFY = """
name: classify
inputs:
  type: object
  properties: {text: {type: string}}
steps:
  - id: ask
    uses: llm.chat
    with:
      model: gpt-4o-mini
      system: Classify the message.
      prompt: "{{ inputs.text }}"
      response_schema:
        type: object
        properties: {answer: {type: string}}
        required: [answer]
outputs:
  answer: "{{ steps.ask.output.json.answer }}"
"""


@pytest.fixture
async def both(relay_settings: Settings, db: Database) -> AsyncIterator[FastAPI]:
    """AutoMatrix and RelayCore in one app: `llm.chat` calls the gateway in-process."""
    settings = relay_settings.model_copy(update={"services": ["automatrix", "relaycore"]})
    app = create_app(["automatrix", "relaycore"], settings=settings, database=db)
    async with LifespanManager(app):
        yield app


@pytest.fixture
async def client(both: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=both, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def test_structured_answer_with_cost(client: httpx.AsyncClient, upstreams: Upstreams) -> None:
    owner = await signup(client)
    run = await save_and_run(client, owner, named(CLASSIFY), {"text": "refund please"})
    assert run["status"] == "succeeded", json.dumps(run)[:3000]
    step = steps_by_id(run)["ask"]
    output = step["output"]
    assert output["json"] == {"answer": "[openai] refund please"}
    assert run["outputs"] == {"answer": "[openai] refund please"}
    assert output["provider"] == "openai" and output["model"] == "gpt-4o-mini"
    assert output["repaired"] is False
    # gpt-4o-mini: $0.15 / $0.60 per 1M tokens; the upstream counts words.
    usage = output["usage"]
    expected = (usage["prompt_tokens"] * 0.15 + usage["completion_tokens"] * 0.60) / 1_000_000
    assert output["cost_usd"] == pytest.approx(expected, abs=1e-6) and output["cost_usd"] > 0
    sent = upstreams.openai.requests("/v1/chat/completions")[-1].body
    assert sent["response_format"]["type"] == "json_schema"
    assert sent["messages"][0] == {"role": "system", "content": "Classify the message."}


async def test_an_answer_that_misses_the_schema_gets_one_repair_then_fails(
    client: httpx.AsyncClient, upstreams: Upstreams
) -> None:
    owner = await signup(client)
    spec = named(CLASSIFY.replace("required: [answer]", "required: [answer, urgency]"))
    run = await save_and_run(client, owner, spec, {"text": "where is my order"})
    step = steps_by_id(run)["ask"]
    assert run["status"] == "failed"
    assert step["error"]["kind"] == "invalid_output"
    assert "'urgency' is a required property" in step["error"]["message"]
    calls = upstreams.openai.requests("/v1/chat/completions")
    assert len(calls) == 2  # the answer and one repair, no more
    repair = calls[1].body["messages"]
    assert repair[-2]["role"] == "assistant" and "urgency" in repair[-1]["content"]


async def test_gateway_refusals_map_to_step_errors(
    client: httpx.AsyncClient, upstreams: Upstreams
) -> None:
    owner = await signup(client)
    for server in (upstreams.openai, upstreams.backup):
        server.script(*[Fault(status=400)] * 3)
    run = await save_and_run(client, owner, named(CLASSIFY), {"text": "x"})
    error = steps_by_id(run)["ask"]["error"]
    assert run["status"] == "failed" and error["kind"] == "client_error"
    assert error["details"]["status"] == 400
    unknown = named(CLASSIFY.replace("model: gpt-4o-mini", "model: gpt-17"))
    run = await save_and_run(client, owner, unknown, {"text": "x"})
    error = steps_by_id(run)["ask"]["error"]
    assert error["kind"] == "client_error" and "gpt-17" in error["message"]


async def test_over_http_with_the_tenants_key(
    relay_settings: Settings, db: Database, upstreams: Upstreams, app_factory: Any
) -> None:
    async with serve_relay(relay_settings, db, upstreams) as relay:
        key = await relay.key()
        settings = relay_settings.model_copy(
            update={"services": ["automatrix"], "relay_url": relay.url}
        )
        app = app_factory(settings=settings, services=["automatrix"])
        async with LifespanManager(app):
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                owner: Account = relay.owner
                headers = owner.headers
                missing = await save_and_run(client, owner, named(CLASSIFY), {"text": "hi"})
                error = steps_by_id(missing)["ask"]["error"]
                assert "RELAYCORE_API_KEY" in error["message"]
                stored = await client.put(
                    "/api/secrets/RELAYCORE_API_KEY", json={"value": key}, headers=headers
                )
                assert stored.status_code == 200, stored.text
                run = await save_and_run(client, owner, named(CLASSIFY), {"text": "hello"})
                assert run["status"] == "succeeded", json.dumps(run)[:2000]
                output = steps_by_id(run)["ask"]["output"]
                assert output["json"] == {"answer": "[openai] hello"}
                assert output["cost_usd"] > 0 and output["provider"] == "openai"
                assert key not in json.dumps(run)


async def test_without_a_model_the_gateway_default_answers(client: httpx.AsyncClient) -> None:
    owner = await signup(client)
    spec = named(CLASSIFY.replace("      model: gpt-4o-mini\n", ""))
    run = await save_and_run(client, owner, spec, {"text": "hi"})
    assert run["status"] == "succeeded", json.dumps(run)[:2000]
    output = steps_by_id(run)["ask"]["output"]
    assert output["model"] == "gpt-4o-mini"  # the test catalog's default chat model
    assert "model" not in steps_by_id(run)["ask"]["input"]
