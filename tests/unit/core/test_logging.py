from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from auterity.core.logging import configure_logging, get_logger
from auterity.core.settings import load_settings


def test_secrets_are_redacted_from_json_logs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(load_settings(data_dir=tmp_path, log_format="json", _env_file=None))
    get_logger("test").warning(
        "login",
        password="hunter2-password",
        api_key="ak_abc_supersecretvalue",
        note="header was Bearer eyJhbGciOiJFUzI1NiJ9.payload.sig",
        email="a@example.com",
    )
    logging.getLogger("stdlib").warning("key ak_x1y2_zzzzzzzzzzzzzzzz seen")
    err = capsys.readouterr().err
    lines = [json.loads(line) for line in err.strip().splitlines()]
    first = lines[0]
    assert first["password"] == "[redacted]"
    assert first["api_key"] == "[redacted]"
    assert "payload.sig" not in first["note"]
    assert first["email"] == "a@example.com"
    assert "zzzzzzzz" not in err
    assert "hunter2" not in err
