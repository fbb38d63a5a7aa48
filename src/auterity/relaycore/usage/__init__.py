"""Usage accounting: one row per gateway request, batched writes, aggregated reports."""

from auterity.relaycore.usage.recorder import UsageEntry, UsageRecorder

__all__ = ["UsageEntry", "UsageRecorder"]
