"""Integration fixtures: the local origin server for outbound-HTTP and `http.request` tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.integrations.http.origin import Origin


@pytest.fixture(scope="session")
def origin() -> Iterator[Origin]:
    server = Origin().start()
    try:
        yield server
    finally:
        server.stop()
