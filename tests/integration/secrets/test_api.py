"""The secrets API as a user meets it, on every backend."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from auterity.core.database import Database
from auterity.core.models import Base
from auterity.identity.models import AuditEvent
from auterity.secrets.models import SecretVersion
from tests.integration.secrets.conftest import Account, add_member, signup

VALUE = "tw-9f8e7d6c5b4a-plaintext-marker"


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    return body


async def put(client: httpx.AsyncClient, who: Account, name: str, value: str) -> httpx.Response:
    return await client.put(f"/api/secrets/{name}", json={"value": value}, headers=who.headers)


async def test_write_read_list_delete(client: httpx.AsyncClient, owner: Account) -> None:
    first = await put(client, owner, "TWILIO_TOKEN", VALUE)
    assert first.status_code == 200 and first.json() == {"name": "TWILIO_TOKEN", "version": 1}
    second = await put(client, owner, "TWILIO_TOKEN", VALUE + "-2")
    assert second.json()["version"] == 2

    current = await client.get("/api/secrets/TWILIO_TOKEN", headers=owner.headers)
    assert current.json() == {"name": "TWILIO_TOKEN", "version": 2, "value": VALUE + "-2"}
    assert current.headers["cache-control"] == "no-store"
    old = await client.get("/api/secrets/TWILIO_TOKEN?version=1", headers=owner.headers)
    assert old.json() == {"name": "TWILIO_TOKEN", "version": 1, "value": VALUE}

    listed = await client.get("/api/secrets", headers=owner.headers)
    (item,) = listed.json()["items"]
    assert (item["name"], item["version"], item["updated_by"]) == (
        "TWILIO_TOKEN",
        2,
        owner.email,
    )
    assert VALUE not in listed.text and "value" not in item

    deleted = await client.delete("/api/secrets/TWILIO_TOKEN", headers=owner.headers)
    assert deleted.status_code == 204
    assert_problem(await client.get("/api/secrets/TWILIO_TOKEN", headers=owner.headers), 404)
    assert (await client.get("/api/secrets", headers=owner.headers)).json() == {"items": []}
    assert_problem(await client.delete("/api/secrets/TWILIO_TOKEN", headers=owner.headers), 404)


async def test_another_tenants_secret_is_not_found(
    client: httpx.AsyncClient, owner: Account
) -> None:
    stranger = await signup(client)
    await put(client, owner, "OPENAI_KEY", VALUE)

    body = assert_problem(
        await client.get("/api/secrets/OPENAI_KEY", headers=stranger.headers), 404
    )
    assert VALUE not in str(body)
    assert (await client.get("/api/secrets", headers=stranger.headers)).json() == {"items": []}
    assert_problem(await client.delete("/api/secrets/OPENAI_KEY", headers=stranger.headers), 404)
    # The owner's secret is untouched by the stranger's attempts.
    mine = await client.get("/api/secrets/OPENAI_KEY", headers=owner.headers)
    assert mine.json()["value"] == VALUE


async def test_permissions_by_role(client: httpx.AsyncClient, owner: Account) -> None:
    await put(client, owner, "WHATSAPP_TOKEN", VALUE)
    viewer = await add_member(client, owner, "viewer")
    editor = await add_member(client, owner, "editor")

    for request in (
        client.get("/api/secrets/WHATSAPP_TOKEN", headers=viewer.headers),
        client.get("/api/secrets", headers=viewer.headers),
        put(client, viewer, "WHATSAPP_TOKEN", "overwritten"),
        client.delete("/api/secrets/WHATSAPP_TOKEN", headers=viewer.headers),
    ):
        body = assert_problem(await request, 403)
        assert "secret:" in body["detail"] and VALUE not in str(body)

    # Editors may use secrets in their workflows, not change them.
    readable = await client.get("/api/secrets/WHATSAPP_TOKEN", headers=editor.headers)
    assert readable.json()["value"] == VALUE
    assert_problem(await put(client, editor, "WHATSAPP_TOKEN", "overwritten"), 403)
    assert_problem(await client.delete("/api/secrets/WHATSAPP_TOKEN", headers=editor.headers), 403)
    assert_problem(await client.get("/api/secrets"), 401)


async def test_every_read_writes_an_audit_event(
    client: httpx.AsyncClient, owner: Account, db: Database
) -> None:
    await put(client, owner, "PROVIDER_KEY", VALUE)
    for _ in range(3):
        response = await client.get("/api/secrets/PROVIDER_KEY", headers=owner.headers)
        assert response.status_code == 200
    await client.get("/api/secrets/PROVIDER_KEY?version=9", headers=owner.headers)

    async with db.session(readonly=True) as session:
        reads = (
            await session.execute(
                select(AuditEvent.outcome, AuditEvent.actor_label, AuditEvent.details)
                .where(AuditEvent.action == "secret.read")
                .order_by(AuditEvent.id)
            )
        ).all()
    assert [(r.outcome, r.actor_label) for r in reads] == [("success", owner.email)] * 3 + [
        ("failure", owner.email)
    ]
    assert reads[-1].details["version"] == 9 and VALUE not in str(reads)
    log = await client.get("/api/audit", headers=owner.headers)
    assert log.status_code == 200 and VALUE not in log.text


async def test_names_and_bodies_are_validated_without_echoing_values(
    client: httpx.AsyncClient, owner: Account
) -> None:
    bad_name = assert_problem(await put(client, owner, "twilio-token", VALUE), 422)
    (error,) = bad_name["errors"]
    assert error["pointer"] == "/path/name" and "'TWILIO_TOKEN'" in error["hint"]

    for body in ({"value": ""}, {"value": VALUE * 3000}, {"value": VALUE, "extra": 1}, {}):
        refused = await client.put("/api/secrets/OK_NAME", json=body, headers=owner.headers)
        assert_problem(refused, 422)
        assert VALUE not in refused.text
    assert_problem(await client.get("/api/secrets/OK_NAME?version=0", headers=owner.headers), 422)
    assert (await client.get("/api/secrets", headers=owner.headers)).json() == {"items": []}


async def test_values_keep_surrounding_whitespace(
    client: httpx.AsyncClient, owner: Account
) -> None:
    await put(client, owner, "PEM_KEY", "  -----BEGIN-----\nabc\n-----END-----\n")
    read = await client.get("/api/secrets/PEM_KEY", headers=owner.headers)
    assert read.json()["value"] == "  -----BEGIN-----\nabc\n-----END-----\n"


async def test_a_database_dump_holds_no_plaintext(
    app: FastAPI, client: httpx.AsyncClient, owner: Account, db: Database
) -> None:
    await put(client, owner, "DUMPED", VALUE)
    await put(client, owner, "DUMPED", VALUE + "-v2")
    await client.get("/api/secrets/DUMPED", headers=owner.headers)

    dump = []
    async with db.session(readonly=True) as session:
        for table in Base.metadata.sorted_tables:
            rows = (await session.execute(select(table))).all()
            dump.append(f"{table.name}: {rows!r}")
        stored = await session.scalar(select(func.count()).select_from(SecretVersion))

    assert VALUE not in "\n".join(dump)
    # Sealed rows on the local backend; with Vault, nothing of the value reaches our database.
    assert stored == (2 if app.state.secrets.backend.kind == "local" else 0)


class Collected(logging.Handler):
    def __init__(self, formatter: logging.Formatter | None) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        if formatter is not None:
            self.setFormatter(formatter)

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def logs() -> Iterator[Collected]:
    """Every log line of the test at DEBUG, rendered as the app renders it (SQL included)."""
    root = logging.getLogger()
    handler = Collected(root.handlers[0].formatter if root.handlers else None)
    # SQLAlchemy quiets its loggers at import; at INFO it logs each statement and parameters.
    loggers = [root, *(logging.getLogger(name) for name in ("sqlalchemy.engine", "urllib3"))]
    levels = [logger.level for logger in loggers]
    root.addHandler(handler)
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


async def test_logs_never_hold_a_value(
    client: httpx.AsyncClient, owner: Account, logs: Collected
) -> None:
    await put(client, owner, "LOGGED", VALUE)
    await client.get("/api/secrets/LOGGED", headers=owner.headers)
    await client.get("/api/secrets", headers=owner.headers)
    await client.put("/api/secrets/LOGGED", json={"value": VALUE * 3000}, headers=owner.headers)
    await client.delete("/api/secrets/LOGGED", headers=owner.headers)

    assert any("INSERT INTO audit_events" in line for line in logs.lines), "SQL was not logged"
    assert not [line for line in logs.lines if VALUE in line]
