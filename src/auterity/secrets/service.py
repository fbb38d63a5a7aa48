"""Secret store logic without HTTP: names, the chosen backend, and the audit of every access.

Routes and other components (the workflow engine through `resolve_secret`) go through
`SecretService`, so every read of a value leaves an audit event before the value is handed out.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from typing import Any

from auterity.core.database import Database
from auterity.core.errors import FieldError, ValidationFailed
from auterity.core.runtime import Runtime
from auterity.identity import audit
from auterity.identity.principal import Principal
from auterity.secrets.backend import RevealedSecret, SecretBackend, SecretInfo, SecretNotFound
from auterity.secrets.local import LocalSecretBackend

# Workflows reference secrets as `{{ secrets.NAME }}`, so a name must be an identifier;
# one spelling (upper case, like environment variables) keeps `Twilio_Token` and
# `TWILIO_TOKEN` from becoming two secrets, and keeps Vault paths free of odd characters.
NAME_PATTERN = re.compile(r"[A-Z][A-Z0-9_]{0,99}")
NAME_RULE = (
    "must start with an upper-case letter and contain only upper-case letters, digits and "
    "underscores (at most 100 characters)"
)
MAX_VALUE_CHARS = 65_536
NAME_POINTER = "/path/name"


def suggest_name(name: str) -> str | None:
    """The nearest valid name to `name`, for the error's hint."""
    candidate = re.sub(r"[^A-Z0-9]+", "_", name.upper()).strip("_")
    if candidate and not candidate[0].isalpha():
        candidate = f"S_{candidate}"
    candidate = candidate[:100].rstrip("_")
    return candidate if NAME_PATTERN.fullmatch(candidate) else None


def check_name(name: str, pointer: str = NAME_POINTER) -> str:
    """`name` if valid, else a `ValidationFailed` that says the rule and suggests a fix."""
    if NAME_PATTERN.fullmatch(name):
        return name
    suggestion = suggest_name(name)
    hint = (
        f"Use {suggestion!r}."
        if suggestion
        else "Name it like an environment variable, e.g. 'TWILIO_AUTH_TOKEN'."
    )
    shown = name if len(name) <= 120 else name[:120] + "..."
    raise ValidationFailed(
        f"{shown!r} is not a valid secret name.",
        errors=[FieldError(pointer, f"The secret name {NAME_RULE}.", hint)],
    )


class SecretService:
    """The secret store as the rest of Auterity sees it."""

    def __init__(self, backend: SecretBackend, db: Database) -> None:
        self.backend = backend
        self._db = db

    @classmethod
    def build(cls, runtime: Runtime) -> SecretService:
        """The service with the backend `AUTERITY_SECRETS_BACKEND` names."""
        backend: SecretBackend
        if runtime.settings.secrets_backend == "vault":
            # Imported here so hvac and requests load only where Vault is used.
            from auterity.secrets.vault import VaultSecretBackend

            backend = VaultSecretBackend.from_settings(runtime.settings)
        else:
            backend = LocalSecretBackend(runtime.db, runtime.sealer)
        return cls(backend, runtime.db)

    async def close(self) -> None:
        await self.backend.close()

    async def write(self, principal: Principal, name: str, value: str) -> int:
        """Store a new version of `name`; returns its version number."""
        check_name(name)
        version = await self.backend.put(principal.tenant_id, name, value, actor=principal.label)
        await self._audit(
            "secret.written", "success", principal.audit_actor(), name, {"version": version}
        )
        return version

    async def reveal(
        self, principal: Principal, name: str, version: int | None = None
    ) -> RevealedSecret:
        """A value for an API caller who holds `secret:read` (checked by the route)."""
        check_name(name)
        return await self._read(principal.tenant_id, name, version, principal.audit_actor())

    async def resolve_secret(
        self, tenant_id: uuid.UUID, name: str, *, on_behalf_of: str = "system"
    ) -> str:
        """The current value of `name`, for components that act for a tenant (workflow steps).

        `on_behalf_of` names who asked (e.g. `workflow-run:<id>`) in the audit log. The caller
        decides whether its principal may use secrets; this only scopes by tenant.
        """
        check_name(name, pointer="/name")
        actor = {"tenant_id": tenant_id, "actor_label": on_behalf_of}
        return (await self._read(tenant_id, name, None, actor)).value

    async def delete(self, principal: Principal, name: str) -> None:
        """Remove every version of `name`."""
        check_name(name)
        await self.backend.delete(principal.tenant_id, name)
        await self._audit("secret.deleted", "success", principal.audit_actor(), name, {})

    async def list(self, principal: Principal) -> Sequence[SecretInfo]:
        """Names and versions of the tenant's secrets; values are never part of a list."""
        return await self.backend.list(principal.tenant_id)

    async def _read(
        self, tenant_id: uuid.UUID, name: str, version: int | None, actor: dict[str, Any]
    ) -> RevealedSecret:
        try:
            secret = await self.backend.get(tenant_id, name, version)
        except SecretNotFound:
            details = {"reason": "not_found", "version": version}
            await self._audit("secret.read", "failure", actor, name, details)
            raise
        # The audit event commits before the value leaves: no unaudited read.
        await self._audit("secret.read", "success", actor, name, {"version": secret.version})
        return secret

    async def _audit(
        self,
        action: str,
        outcome: str,
        actor: dict[str, Any],
        name: str,
        details: dict[str, Any],
    ) -> None:
        await audit.record_now(
            self._db,
            action,
            outcome,
            **actor,
            target_type="secret",
            target_id=name,
            details={"name": name, "backend": self.backend.kind, **details},
        )
