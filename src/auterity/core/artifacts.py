"""Artifact store: large values (step outputs, exports, model files) kept outside the database.

The local backend writes files under `$DATA_DIR/artifacts/<tenant>/`; a row keeps only a
reference (`{"$artifact": "<ref>", "bytes": n}`), which readers resolve transparently.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from pathlib import Path
from typing import Any, Protocol, TypeGuard

from auterity.core.ids import new_id

REF_KEY = "$artifact"


class ArtifactStore(Protocol):
    async def put_json(self, tenant_id: uuid.UUID, value: Any) -> dict[str, Any]: ...

    async def get_json(self, reference: dict[str, Any]) -> Any: ...

    async def put_bytes(
        self, tenant_id: uuid.UUID, data: bytes, *, media_type: str, extension: str
    ) -> dict[str, Any]: ...

    async def get_bytes(self, ref: str) -> bytes: ...


def is_reference(value: Any) -> TypeGuard[dict[str, Any]]:
    return isinstance(value, dict) and REF_KEY in value and len(value) <= 3


class LocalArtifactStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, ref: str) -> Path:
        tenant, name = ref.split("/", 1)
        # Refs are ours (uuid/uuid), but never let one escape the root.
        path = (self.root / tenant / name).resolve()
        if self.root.resolve() not in path.parents:
            raise ValueError(f"artifact reference {ref!r} is outside the store")
        return path

    async def put_json(self, tenant_id: uuid.UUID, value: Any) -> dict[str, Any]:
        data = json.dumps(value, separators=(",", ":")).encode()
        ref = f"{tenant_id}/{new_id().hex}.json"
        await self._write(ref, data)
        return {REF_KEY: ref, "bytes": len(data)}

    async def put_bytes(
        self, tenant_id: uuid.UUID, data: bytes, *, media_type: str, extension: str
    ) -> dict[str, Any]:
        """A binary artifact (a screenshot). Its reference says `artifact`, not `$artifact`:
        it is a file to fetch, never a value that readers resolve in place."""
        ref = f"{tenant_id}/{new_id().hex}.{extension.lstrip('.')}"
        await self._write(ref, data)
        return {"artifact": ref, "media_type": media_type, "bytes": len(data)}

    async def get_bytes(self, ref: str) -> bytes:
        return await asyncio.to_thread(self._path(ref).read_bytes)

    async def _write(self, ref: str, data: bytes) -> None:
        path = self._path(ref)

        def write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_suffix(".tmp")
            temporary.write_bytes(data)
            os.replace(temporary, path)  # atomic: a crash leaves no half-written artifact

        await asyncio.to_thread(write)

    async def get_json(self, reference: dict[str, Any]) -> Any:
        path = self._path(str(reference[REF_KEY]))
        return json.loads(await asyncio.to_thread(path.read_bytes))
