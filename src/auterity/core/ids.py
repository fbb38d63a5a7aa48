"""Identifiers: UUIDv7, so ids sort by creation time and index well."""

from __future__ import annotations

import uuid

import uuid_utils


def new_id() -> uuid.UUID:
    """A new time-ordered UUIDv7 as a standard `uuid.UUID`."""
    return uuid.UUID(bytes=uuid_utils.uuid7().bytes)
