"""One behavioural suite that every secret backend passes: local (SQLite, PostgreSQL) and Vault."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import astuple
from datetime import UTC

import pytest

from auterity.secrets import SecretNotFound, SecretService

Tenants = tuple[uuid.UUID, uuid.UUID]


async def test_versions_count_up_and_each_stays_readable(
    secrets: SecretService, tenants: Tenants
) -> None:
    backend, tenant = secrets.backend, tenants[0]
    assert await backend.put(tenant, "TWILIO_TOKEN", "first") == 1
    assert await backend.put(tenant, "TWILIO_TOKEN", "second") == 2

    assert await backend.get(tenant, "TWILIO_TOKEN") == ("second", 2)
    assert await backend.get(tenant, "TWILIO_TOKEN", 1) == ("first", 1)
    assert await backend.get(tenant, "TWILIO_TOKEN", 2) == ("second", 2)


async def test_values_come_back_exactly_as_stored(secrets: SecretService, tenants: Tenants) -> None:
    awkward = '  line one\nline two\t ünïcödé 🔑 "quoted" {{ not_a_template }}  '
    large = "x" * 65_536
    await secrets.backend.put(tenants[0], "AWKWARD", awkward)
    await secrets.backend.put(tenants[0], "LARGE", large)

    assert (await secrets.backend.get(tenants[0], "AWKWARD")).value == awkward
    assert (await secrets.backend.get(tenants[0], "LARGE")).value == large


async def test_missing_secret_or_version_is_not_found(
    secrets: SecretService, tenants: Tenants
) -> None:
    with pytest.raises(SecretNotFound, match="NOPE"):
        await secrets.backend.get(tenants[0], "NOPE")
    await secrets.backend.put(tenants[0], "ONE", "v1")
    with pytest.raises(SecretNotFound, match="no version 7"):
        await secrets.backend.get(tenants[0], "ONE", 7)
    with pytest.raises(SecretNotFound):
        await secrets.backend.delete(tenants[0], "NOPE")


async def test_tenants_never_see_each_others_secrets(
    secrets: SecretService, tenants: Tenants
) -> None:
    mine, theirs = tenants
    await secrets.backend.put(mine, "SHARED_NAME", "mine")

    with pytest.raises(SecretNotFound):
        await secrets.backend.get(theirs, "SHARED_NAME")
    assert await secrets.backend.list(theirs) == []
    with pytest.raises(SecretNotFound):
        await secrets.backend.delete(theirs, "SHARED_NAME")

    assert await secrets.backend.put(theirs, "SHARED_NAME", "theirs") == 1
    assert (await secrets.backend.get(mine, "SHARED_NAME")).value == "mine"
    assert (await secrets.backend.get(theirs, "SHARED_NAME")).value == "theirs"


async def test_list_shows_names_versions_and_writer_sorted(
    secrets: SecretService, tenants: Tenants
) -> None:
    tenant = tenants[0]
    await secrets.backend.put(tenant, "WHATSAPP_TOKEN", "w1", actor="alice@example.com")
    await secrets.backend.put(tenant, "OPENAI_KEY", "o1", actor="alice@example.com")
    await secrets.backend.put(tenant, "OPENAI_KEY", "o2", actor="api-key:deploy")

    listed = await secrets.backend.list(tenant)

    assert [(s.name, s.version, s.updated_by) for s in listed] == [
        ("OPENAI_KEY", 2, "api-key:deploy"),
        ("WHATSAPP_TOKEN", 1, "alice@example.com"),
    ]
    for info in listed:
        assert info.created_at.tzinfo == UTC and info.updated_at >= info.created_at
    assert not {"w1", "o1", "o2"} & {str(field) for info in listed for field in astuple(info)}


async def test_delete_removes_every_version_and_the_name_can_be_reused(
    secrets: SecretService, tenants: Tenants
) -> None:
    tenant = tenants[0]
    await secrets.backend.put(tenant, "OLD_KEY", "v1")
    await secrets.backend.put(tenant, "OLD_KEY", "v2")
    await secrets.backend.put(tenant, "KEPT", "k")

    await secrets.backend.delete(tenant, "OLD_KEY")

    for version in (None, 1, 2):
        with pytest.raises(SecretNotFound):
            await secrets.backend.get(tenant, "OLD_KEY", version)
    assert [s.name for s in await secrets.backend.list(tenant)] == ["KEPT"]
    with pytest.raises(SecretNotFound):
        await secrets.backend.delete(tenant, "OLD_KEY")

    # Reuse: numbering may restart (Vault) or continue (local); the new value is what reads.
    version = await secrets.backend.put(tenant, "OLD_KEY", "reborn")
    assert await secrets.backend.get(tenant, "OLD_KEY") == ("reborn", version)
    assert [s.name for s in await secrets.backend.list(tenant)] == ["KEPT", "OLD_KEY"]


async def test_concurrent_writes_get_distinct_versions(
    secrets: SecretService, tenants: Tenants
) -> None:
    values = [f"value-{n}" for n in range(6)]
    versions = await asyncio.gather(
        *(secrets.backend.put(tenants[0], "BUSY", value) for value in values)
    )

    assert sorted(versions) == [1, 2, 3, 4, 5, 6]
    for version, value in zip(versions, values, strict=True):
        assert await secrets.backend.get(tenants[0], "BUSY", version) == (value, version)
