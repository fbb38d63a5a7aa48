"""Opt-in semantic cache: a stored answer is reused for a prompt whose embedding is close enough.

Entries are partitioned by tenant, model and every request field other than the messages
(so a different temperature, tool set or response format never matches), kept in this
process's memory, bounded per partition and in partitions (least recently used go first),
and expire after a TTL. Embeddings come from the injected `embed` (for instance the bundled
local model); vectors are unit-normalised so similarity is one matrix-vector product.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from auterity.relaycore.cache.hit import CacheHit
from auterity.relaycore.cache.normalise import canonical, fingerprint, normalise

Embed = Callable[[list[str]], Awaitable[Sequence[Sequence[float]]]]
Vector = npt.NDArray[np.float32]


def prompt_text(request: dict[str, Any]) -> str:
    """The text whose meaning is compared: each message as `role: content`."""
    lines = []
    for message in normalise(request).get("messages") or []:
        if isinstance(message, dict):
            content = message.get("content")
            text = content if isinstance(content, str) else canonical(content)
            lines.append(f"{message.get('role', 'user')}: {text}")
    return "\n".join(lines)


def partition_key(tenant_id: uuid.UUID, request: dict[str, Any]) -> str:
    rest = {key: value for key, value in request.items() if key != "messages"}
    return f"{tenant_id}:{fingerprint(rest)}"


@dataclass(slots=True)
class _Partition:
    vectors: list[Vector] = field(default_factory=list)
    entries: list[tuple[dict[str, Any], str | None, str | None, float]] = field(
        default_factory=list
    )  # (response, routed model, provider, expires at)

    def drop(self, index: int) -> None:
        del self.vectors[index]
        del self.entries[index]


@dataclass(frozen=True, slots=True)
class SemanticProbe:
    """A lookup's embedding, kept so storing the answer afterwards does not embed again."""

    partition: str
    vector: Vector


class SemanticCache:
    def __init__(
        self,
        embed: Embed,
        *,
        threshold: float = 0.95,
        ttl_seconds: float = 3600.0,
        max_entries_per_partition: int = 1000,
        max_partitions: int = 1000,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError("threshold must be in (0, 1]")
        self.embed = embed
        self.threshold = threshold
        self.ttl_seconds = ttl_seconds
        self.max_entries_per_partition = max_entries_per_partition
        self.max_partitions = max_partitions
        self.timer = timer
        self._partitions: OrderedDict[str, _Partition] = OrderedDict()

    @property
    def size(self) -> int:
        return sum(len(p.entries) for p in self._partitions.values())

    async def probe(self, tenant_id: uuid.UUID, request: dict[str, Any]) -> SemanticProbe | None:
        """Embed the request's prompt (None when it has no messages to compare)."""
        text = prompt_text(request)
        if not text:
            return None
        vectors = await self.embed([text])
        vector = np.asarray(vectors[0], dtype=np.float32)
        norm = float(np.linalg.norm(vector))
        if norm == 0.0:
            return None
        return SemanticProbe(partition_key(tenant_id, request), vector / norm)

    def lookup(self, probe: SemanticProbe) -> CacheHit | None:
        partition = self._partitions.get(probe.partition)
        if partition is None:
            return None
        self._expire(partition)
        if not partition.vectors:
            return None
        similarities = np.stack(partition.vectors) @ probe.vector
        best = int(np.argmax(similarities))
        similarity = float(similarities[best])
        if similarity < self.threshold:
            return None
        self._partitions.move_to_end(probe.partition)
        response, model, provider, _ = partition.entries[best]
        return CacheHit(response, model, provider, "semantic", similarity=similarity)

    def store(
        self,
        probe: SemanticProbe,
        response: dict[str, Any],
        *,
        routed_model: str | None,
        provider: str | None,
    ) -> None:
        partition = self._partitions.get(probe.partition)
        if partition is None:
            partition = self._partitions[probe.partition] = _Partition()
            while len(self._partitions) > self.max_partitions:
                self._partitions.popitem(last=False)
        self._partitions.move_to_end(probe.partition)
        self._expire(partition)
        if len(partition.entries) >= self.max_entries_per_partition:
            partition.drop(0)  # the oldest
        partition.vectors.append(probe.vector)
        partition.entries.append(
            (response, routed_model, provider, self.timer() + self.ttl_seconds)
        )

    def _expire(self, partition: _Partition) -> None:
        now = self.timer()
        # Entries are appended in time order with one TTL, so the expired ones lead.
        while partition.entries and partition.entries[0][3] <= now:
            partition.drop(0)
