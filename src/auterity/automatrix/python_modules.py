"""Trusted Python modules deployed with the SDK: stored by content, imported once per process.

A module is stored under `name@digest` (the first 16 hex digits of its source's SHA-256), so a
workflow version pins the exact code it was deployed with, and a process that imported a ref
never needs to import it again. Importing runs the module in this process: only the operator
(the local CLI) and tenants the operator trusts (`sdk_trusted_tenants`) may deploy.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import sys
import uuid
from types import ModuleType
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from auterity.automatrix.models import PythonModule
from auterity.core.database import Database
from auterity.core.errors import FieldError, NotFound, ValidationFailed
from auterity.core.tenancy import bind_tenant

MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")
TARGET = re.compile(
    r"^(?P<ref>[A-Za-z_][A-Za-z0-9_]{0,99}@[0-9a-f]{16}):(?P<qualname>[A-Za-z_][\w.]*)$"
)
MAX_SOURCE_CHARS = 1024 * 1024


def module_ref(name: str, source: str) -> str:
    return f"{name}@{hashlib.sha256(source.encode()).hexdigest()[:16]}"


async def deploy(
    session: AsyncSession, tenant_id: uuid.UUID, name: str, source: str, deployed_by: str
) -> str:
    """Store `source` as module `name` of the tenant (once per content); its ref."""
    if not MODULE_NAME.match(name):
        raise ValidationFailed(
            "invalid module name",
            errors=[FieldError("/name", f"{name!r} is not a Python module name")],
        )
    if len(source) > MAX_SOURCE_CHARS:
        raise ValidationFailed(
            "module too large",
            errors=[FieldError("/source", f"over {MAX_SOURCE_CHARS} characters")],
        )
    try:
        compile(source, f"{name}.py", "exec", dont_inherit=True)
    except SyntaxError as exc:
        raise ValidationFailed(
            "the module does not compile",
            errors=[FieldError("/source", f"line {exc.lineno}, column {exc.offset}: {exc.msg}")],
        ) from None
    ref = module_ref(name, source)
    bind_tenant(session, tenant_id)
    found = await session.scalar(select(PythonModule.id).where(PythonModule.ref == ref))
    if found is None:
        session.add(
            PythonModule(
                tenant_id=tenant_id, ref=ref, name=name, source=source, deployed_by=deployed_by
            )
        )
        await session.flush()
    return ref


class ModuleLoader:
    """Imports deployed modules by ref into this process, once each (a ref never changes)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._modules: dict[tuple[uuid.UUID, str], ModuleType] = {}
        self._lock = asyncio.Lock()

    async def function(self, tenant_id: uuid.UUID, target: str) -> Any:
        """The object `ref:qualname` names in the tenant's deployed module."""
        match = TARGET.match(target)
        if match is None:
            raise NotFound(f"{target!r} is not a deployed function (module@digest:name)")
        module = self._modules.get((tenant_id, match["ref"]))
        if module is None:
            module = await self._import(tenant_id, match["ref"])
        found: Any = module
        for part in match["qualname"].split("."):
            found = getattr(found, part, None)
            if found is None:
                raise NotFound(f"{match['ref']} has no {match['qualname']!r}")
        return found

    async def _import(self, tenant_id: uuid.UUID, ref: str) -> ModuleType:
        async with self._lock:
            if (tenant_id, ref) in self._modules:
                return self._modules[(tenant_id, ref)]
            async with self.db.session(readonly=True) as session:
                bind_tenant(session, tenant_id)
                source = await session.scalar(
                    select(PythonModule.source).where(PythonModule.ref == ref)
                )
            if source is None:
                raise NotFound(f"module {ref} is not deployed in this tenant")
            # Unique per tenant and content, so tenants and versions never share globals.
            qualified = f"auterity_deployed.t{tenant_id.hex}.{ref.replace('@', '_')}"
            module = ModuleType(qualified)
            module.__file__ = f"<{ref}>"
            sys.modules[qualified] = module
            try:
                exec(compile(source, f"<{ref}>", "exec", dont_inherit=True), module.__dict__)  # noqa: S102 - trusted, deployed code
            except BaseException:
                sys.modules.pop(qualified, None)
                raise
            self._modules[(tenant_id, ref)] = module
            return module
