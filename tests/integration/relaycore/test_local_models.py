"""The bundled local models through the gateway, as `make run` serves them: no key, no network.

Runs where the local models are installed (the `local` extra); skipped elsewhere, naming why.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from auterity.core.database import Database
from auterity.core.settings import Settings
from auterity.relaycore.providers.local import local_model_installed
from tests.fixtures.llm_upstreams import Upstreams
from tests.integration.relaycore.conftest import Relay, serve_relay

pytestmark = pytest.mark.skipif(
    not (local_model_installed("chat") and local_model_installed("embedding")),
    reason="the bundled local models (auterity.relaycore.local and its extra) are not installed",
)


@pytest.fixture
async def embedded(settings: Settings, db: Database, upstreams: Upstreams) -> AsyncIterator[Relay]:
    # The shipped catalog alone and no provider keys: what `auterity up` has.
    plain = settings.model_copy(update={"services": ["relaycore"]})
    async with serve_relay(plain, db, upstreams) as served:
        yield served


async def test_local_chat_and_embeddings_with_no_key(embedded: Relay) -> None:
    client = embedded.openai(await embedded.key())
    raw = await client.chat.completions.with_raw_response.create(
        model="local", messages=[{"role": "user", "content": "Say hi."}], max_tokens=8
    )
    answer = raw.parse()
    assert answer.choices[0].message.content
    assert answer.usage is not None and answer.usage.completion_tokens > 0
    assert raw.headers["x-auterity-model"] == "local/smollm2-135m-instruct"
    assert raw.headers["x-auterity-cost-usd"] == "0.000000"
    stream = await client.chat.completions.create(
        model="auto", messages=[{"role": "user", "content": "hi"}], max_tokens=4, stream=True
    )
    assert [chunk async for chunk in stream]
    vectors = await client.embeddings.create(model="local/all-minilm-l6-v2", input=["a", "b"])
    assert len(vectors.data) == 2 and len(vectors.data[0].embedding) == 384
    models = {m.id async for m in client.models.list()}
    assert {"local", "local/smollm2-135m-instruct", "local/all-minilm-l6-v2"} <= models
