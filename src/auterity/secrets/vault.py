"""The Vault backend: secrets in HashiCorp Vault's KV v2 engine, one path per tenant secret.

A secret lives at `<mount>/auterity/<tenant_id>/<NAME>` as `{"value": ...}`; Vault keeps the
versions. hvac is synchronous (requests), so each call runs in a worker thread, and its
errors are translated here so callers only ever see `SecretNotFound` or
`SecretBackendUnavailable`.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import anyio.to_thread
import hvac
import requests
from hvac import exceptions as vault_errors

from auterity.core.logging import get_logger
from auterity.core.settings import Settings
from auterity.secrets.backend import (
    RevealedSecret,
    SecretBackendUnavailable,
    SecretInfo,
    not_found,
)

PATH_ROOT = "auterity"
log = get_logger(__name__)
T = TypeVar("T")
# Vault writes RFC 3339 times with nanoseconds; Python reads at most microseconds.
_FRACTION = re.compile(r"(\.\d{6})\d+")


class VaultSecretBackend:
    """Secrets in a Vault KV v2 mount, reached with a token."""

    kind = "vault"

    def __init__(self, client: hvac.Client, mount: str) -> None:
        self._client = client
        self._kv: Any = client.secrets.kv.v2
        self._mount = mount

    @classmethod
    def from_settings(cls, settings: Settings) -> VaultSecretBackend:
        assert settings.vault_url is not None and settings.vault_token is not None
        client = hvac.Client(
            url=settings.vault_url,
            token=settings.vault_token.get_secret_value(),
            namespace=settings.vault_namespace,
            timeout=settings.vault_timeout_seconds,
            verify=str(settings.vault_ca_cert) if settings.vault_ca_cert else True,
        )
        return cls(client, settings.vault_mount)

    def _path(self, tenant_id: uuid.UUID, name: str | None = None) -> str:
        base = f"{PATH_ROOT}/{tenant_id}"
        return base if name is None else f"{base}/{name}"

    async def _run(self, call: Callable[[], T]) -> T:
        with self._translated_errors():
            return await anyio.to_thread.run_sync(call)

    @contextmanager
    def _translated_errors(self) -> Iterator[None]:
        try:
            yield
        except (vault_errors.Forbidden, vault_errors.Unauthorized) as exc:
            log.error("vault_refused", error=str(exc))
            raise SecretBackendUnavailable(
                "Vault refused Auterity's token (permission denied): check AUTERITY_VAULT_TOKEN "
                f"and that its policy allows {self._mount}/data/{PATH_ROOT}/* and "
                f"{self._mount}/metadata/{PATH_ROOT}/*."
            ) from None
        except (vault_errors.VaultError, requests.RequestException) as exc:
            log.error("vault_unavailable", error=str(exc), error_type=type(exc).__name__)
            raise SecretBackendUnavailable(
                f"The Vault secret backend did not answer as expected ({type(exc).__name__})."
            ) from None

    async def put(
        self, tenant_id: uuid.UUID, name: str, value: str, *, actor: str | None = None
    ) -> int:
        path = self._path(tenant_id, name)

        def write() -> int:
            written = self._kv.create_or_update_secret(
                path=path, secret={"value": value}, mount_point=self._mount
            )
            if actor is not None:
                # POSTed directly, not through hvac's update_metadata, which would also reset
                # an operator's delete_version_after on this key: Vault changes only given fields.
                self._client.adapter.post(
                    f"/v1/{self._mount}/metadata/{path}",
                    json={"custom_metadata": {"updated_by": actor}},
                )
            return int(written["data"]["version"])

        return await self._run(write)

    async def get(
        self, tenant_id: uuid.UUID, name: str, version: int | None = None
    ) -> RevealedSecret:
        path = self._path(tenant_id, name)

        def read() -> dict[str, Any]:
            try:
                response: dict[str, Any] = self._kv.read_secret_version(
                    path=path,
                    version=version,
                    mount_point=self._mount,
                    raise_on_deleted_version=True,
                )
            except vault_errors.InvalidPath:
                raise not_found(name, version) from None
            data: dict[str, Any] = response["data"]
            return data

        data = await self._run(read)
        value = (data.get("data") or {}).get("value")
        if not isinstance(value, str):
            raise SecretBackendUnavailable(
                f"The Vault entry for {name!r} has no string `value` field; Auterity stores each "
                'secret as {"value": "..."}. Rewrite it through Auterity.'
            )
        return RevealedSecret(value, int(data["metadata"]["version"]))

    async def delete(self, tenant_id: uuid.UUID, name: str) -> None:
        path = self._path(tenant_id, name)

        def remove() -> None:
            # Vault answers 204 to deleting a path that does not exist; look first to report it.
            try:
                self._kv.read_secret_metadata(path=path, mount_point=self._mount)
            except vault_errors.InvalidPath:
                raise not_found(name) from None
            self._kv.delete_metadata_and_all_versions(path=path, mount_point=self._mount)

        await self._run(remove)

    async def list(self, tenant_id: uuid.UUID) -> Sequence[SecretInfo]:
        folder = self._path(tenant_id)

        def collect() -> list[SecretInfo]:
            try:
                listed = self._kv.list_secrets(path=folder, mount_point=self._mount)
            except vault_errors.InvalidPath:
                return []
            found = []
            for key in sorted(listed["data"]["keys"]):
                if key.endswith("/"):
                    continue  # a folder someone else made under our prefix: not a secret
                try:
                    metadata = self._kv.read_secret_metadata(
                        path=f"{folder}/{key}", mount_point=self._mount
                    )["data"]
                except vault_errors.InvalidPath:
                    continue  # deleted between the listing and this read
                info = _info(key, metadata)
                if info is not None:
                    found.append(info)
            return found

        return await self._run(collect)

    async def close(self) -> None:
        self._client.adapter.close()


def _info(name: str, metadata: dict[str, Any]) -> SecretInfo | None:
    """A list entry, or None when the current version was deleted or destroyed in Vault."""
    current = int(metadata["current_version"])
    entry = (metadata.get("versions") or {}).get(str(current))
    if entry is None or entry.get("deletion_time") or entry.get("destroyed"):
        return None
    custom = metadata.get("custom_metadata") or {}
    return SecretInfo(
        name=name,
        version=current,
        created_at=parse_vault_time(metadata["created_time"]),
        updated_at=parse_vault_time(entry["created_time"]),
        updated_by=custom.get("updated_by"),
    )


def parse_vault_time(text: str) -> datetime:
    return datetime.fromisoformat(_FRACTION.sub(r"\1", text)).astimezone(UTC)
