"""How an integration reads the tenant's credentials: by secret name, never by value.

Callers pass a `SecretReader` bound to one tenant (the workflow step's or the API caller's);
a secret that is not stored is a `MissingCredential`, named, with how to store it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from auterity.integrations.errors import MissingCredential

# The value of the tenant's secret `name`, or None when it is not stored.
SecretReader = Callable[[str], Awaitable[str | None]]


async def read_credential(read: SecretReader, name: str, purpose: str) -> str:
    value = await read(name)
    if not value:
        raise MissingCredential(name, purpose)
    return value
