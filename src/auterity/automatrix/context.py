"""The expression context of a step: inputs, steps, run, item and secrets (redacted when shown)."""

from __future__ import annotations

import uuid
from typing import Any

from auterity.automatrix.actions.base import ActionError, SecretLookup

REDACTED = "[secret:{name}]"


class SecretValues:
    """`secrets.NAME` in expressions; resolved values are remembered so they can be redacted."""

    def __init__(self, resolved: dict[str, str]) -> None:
        self._resolved = resolved

    def __getattr__(self, name: str) -> str:
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in self._resolved:
            raise ActionError(f"secret {name!r} does not exist in this tenant", kind="client_error")
        return self._resolved[name]

    __getitem__ = __getattr__


async def resolve_secrets(
    names: set[str], tenant_id: uuid.UUID, lookup: SecretLookup | None
) -> dict[str, str]:
    resolved: dict[str, str] = {}
    for name in sorted(names):
        if lookup is None:
            raise ActionError("no secret store is configured for workflows", kind="client_error")
        value = await lookup(tenant_id, name)
        if value is None:
            raise ActionError(f"secret {name!r} does not exist in this tenant", kind="client_error")
        resolved[name] = value
    return resolved


def redact(value: Any, secrets: dict[str, str]) -> Any:
    """Replace every resolved secret value inside `value` with a marker naming the secret."""
    if not secrets:
        return value
    if isinstance(value, str):
        for name, secret in secrets.items():
            if secret:
                value = value.replace(secret, REDACTED.format(name=name))
        return value
    if isinstance(value, dict):
        return {key: redact(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [redact(item, secrets) for item in value]
    return value


def expression_context(
    inputs: dict[str, Any],
    visible: dict[str, dict[str, Any]],
    run: dict[str, Any],
    item: Any = None,
    secrets: dict[str, str] | None = None,
) -> dict[str, Any]:
    """What `{{ ... }}` sees: built the same way where the run is driven and on a worker."""
    context: dict[str, Any] = {
        "inputs": inputs,
        "steps": visible,  # the sandbox cannot change it
        "run": run,
        "secrets": SecretValues(secrets or {}),
    }
    if item is not None:
        context["item"] = item
    return context
