"""Every CLI test runs in its own directory on its own embedded (SQLite) database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from auterity.core.settings import get_settings


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AUTERITY_DATA_DIR", str(tmp_path / "var"))
    for name in ("DATABASE_URL", "SERVER", "TOKEN", "TENANT"):
        monkeypatch.delenv(f"AUTERITY_{name}", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
