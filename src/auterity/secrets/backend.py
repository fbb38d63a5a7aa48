"""The secret backend interface: where tenant secret values are kept, versioned.

Callers (the service, the key-rotation command, the workflow engine through the service)
only see this Protocol; `local` and `vault` fill it, chosen by `AUTERITY_SECRETS_BACKEND`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple, Protocol

from auterity.core.errors import NotFound, ServiceUnavailable


class SecretNotFound(NotFound):
    """The tenant has no such secret, or no such version of it."""


class SecretBackendUnavailable(ServiceUnavailable):
    """The secret backend could not be reached or refused Auterity's credentials."""


class RevealedSecret(NamedTuple):
    """A secret's plaintext and the version it came from."""

    value: str
    version: int


@dataclass(frozen=True, slots=True)
class SecretInfo:
    """What a list shows about a secret: never its value."""

    name: str
    version: int
    created_at: datetime
    updated_at: datetime
    updated_by: str | None


def not_found(name: str, version: int | None = None) -> SecretNotFound:
    if version is None:
        return SecretNotFound(f"No secret named {name!r} exists in this tenant.")
    return SecretNotFound(f"Secret {name!r} has no version {version} in this tenant.")


class SecretBackend(Protocol):
    """Versioned secret storage, partitioned by tenant. Names arrive already validated."""

    kind: str

    async def put(
        self, tenant_id: uuid.UUID, name: str, value: str, *, actor: str | None = None
    ) -> int:
        """Store `value` as the next version of `name`; returns that version (1 for a new name)."""
        ...

    async def get(
        self, tenant_id: uuid.UUID, name: str, version: int | None = None
    ) -> RevealedSecret:
        """The latest (or the given) version; raises `SecretNotFound`."""
        ...

    async def delete(self, tenant_id: uuid.UUID, name: str) -> None:
        """Remove every version of `name` for good; raises `SecretNotFound`."""
        ...

    async def list(self, tenant_id: uuid.UUID) -> Sequence[SecretInfo]:
        """The tenant's live secrets, sorted by name."""
        ...

    async def close(self) -> None:
        """Release connections; the backend is not used afterwards."""
        ...
