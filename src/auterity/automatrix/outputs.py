"""Step outputs as rows keep them: inline, or a reference to the artifact store when large."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from auterity.automatrix.state import StepState
from auterity.core.artifacts import is_reference

if TYPE_CHECKING:
    from auterity.automatrix.engine import Engine


async def stored_output(engine: Engine, tenant_id: uuid.UUID, output: Any) -> Any:
    """The output as the row keeps it: inline, or a reference when it is large."""
    if output is None:
        return None
    size = len(json.dumps(output, separators=(",", ":"), default=str))
    if size <= engine.inline_output_bytes:
        return output
    return await engine.artifacts.put_json(tenant_id, output)


async def resolve_references(
    engine: Engine, states: Iterable[StepState], show: Callable[[StepState], None]
) -> None:
    """Stored outputs that are references (large ones) are read back for expressions."""
    for state in states:
        if is_reference(state.output):
            state.output = await engine.artifacts.get_json(state.output)
            show(state)
