"""What only the Vault backend does: its paths and wire format, and how Vault failures surface."""

from __future__ import annotations

import socket
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from auterity.secrets import SecretBackendUnavailable, SecretNotFound
from auterity.secrets.vault import VaultSecretBackend, parse_vault_time
from tests.conftest import make_settings
from tests.integration.secrets.vault_fake import FakeVault


def backend_for(tmp_path: Path, vault: FakeVault, **overrides: object) -> VaultSecretBackend:
    values: dict[str, object] = {
        "secrets_backend": "vault",
        "vault_url": vault.url,
        "vault_token": vault.token,
        "vault_mount": vault.mount,
    }
    values.update(overrides)
    return VaultSecretBackend.from_settings(make_settings(tmp_path, **values))


async def test_secret_lives_at_the_documented_path_as_a_value_field(
    tmp_path: Path, vault: FakeVault
) -> None:
    backend = backend_for(tmp_path, vault)
    tenant = uuid.uuid4()
    await backend.put(tenant, "TWILIO_TOKEN", "tw-secret", actor="alice@example.com")

    # Read back with plain HTTP, as another Vault client would.
    async with httpx.AsyncClient(base_url=vault.url) as http:
        response = await http.get(
            f"/v1/secret/data/auterity/{tenant}/TWILIO_TOKEN",
            headers={"X-Vault-Token": vault.token},
        )
        metadata = await http.get(
            f"/v1/secret/metadata/auterity/{tenant}/TWILIO_TOKEN",
            headers={"X-Vault-Token": vault.token},
        )
    assert response.json()["data"]["data"] == {"value": "tw-secret"}
    assert response.json()["data"]["metadata"]["version"] == 1
    assert metadata.json()["data"]["custom_metadata"] == {"updated_by": "alice@example.com"}
    await backend.close()


async def test_a_configured_mount_is_used(tmp_path: Path) -> None:
    server = FakeVault(mount="kv/team-a").start()
    try:
        backend = backend_for(tmp_path, server)
        tenant = uuid.uuid4()
        await backend.put(tenant, "KEY", "v")
        assert (await backend.get(tenant, "KEY")).value == "v"
        assert ("POST", f"/v1/kv/team-a/data/auterity/{tenant}/KEY") in server.requests
        await backend.close()
    finally:
        server.stop()


async def test_a_wrong_token_is_reported_as_a_configuration_problem(
    tmp_path: Path, vault: FakeVault
) -> None:
    backend = backend_for(tmp_path, vault, vault_token="not-the-token")

    with pytest.raises(SecretBackendUnavailable, match="AUTERITY_VAULT_TOKEN") as caught:
        await backend.get(uuid.uuid4(), "ANY")
    assert caught.value.status == 503
    await backend.close()


async def test_an_unreachable_vault_is_unavailable_not_a_crash(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    backend = VaultSecretBackend.from_settings(
        make_settings(
            tmp_path,
            secrets_backend="vault",
            vault_url=f"http://127.0.0.1:{port}",
            vault_token="t",
            vault_timeout_seconds=2,
        )
    )

    with pytest.raises(SecretBackendUnavailable, match="did not answer"):
        await backend.put(uuid.uuid4(), "ANY", "value")
    await backend.close()


async def test_a_version_deleted_inside_vault_is_hidden(tmp_path: Path, vault: FakeVault) -> None:
    backend = backend_for(tmp_path, vault)
    tenant = uuid.uuid4()
    await backend.put(tenant, "ROTATED", "v1")
    await backend.put(tenant, "KEPT", "k")
    # An operator ran `vault kv delete` on it: the current version is soft-deleted.
    vault.soft_delete_latest(f"auterity/{tenant}/ROTATED")

    with pytest.raises(SecretNotFound):
        await backend.get(tenant, "ROTATED")
    assert [s.name for s in await backend.list(tenant)] == ["KEPT"]
    await backend.close()


def test_vault_times_with_nanoseconds_parse_as_utc() -> None:
    assert parse_vault_time("2018-03-22T02:24:06.945319214Z") == datetime(
        2018, 3, 22, 2, 24, 6, 945319, tzinfo=UTC
    )
    assert parse_vault_time("2018-03-22T02:24:06Z") == datetime(2018, 3, 22, 2, 24, 6, tzinfo=UTC)
