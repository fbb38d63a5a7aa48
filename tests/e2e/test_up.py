"""`auterity up` as a user runs it: a real process, real HTTP over loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "AUTERITY_DATA_DIR": str(tmp_path / "var"), "AUTERITY_LOG_FORMAT": "json"}
    env.pop("AUTERITY_DATABASE_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "auterity.cli.main", "up", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                output = process.stdout.read().decode() if process.stdout else ""
                pytest.fail(f"auterity up exited with {process.returncode}:\n{output}")
            try:
                if httpx.get(f"{base}/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        else:
            pytest.fail("auterity up did not become ready within 30 s")
        yield base
    finally:
        process.terminate()
        process.wait(10)


def test_up_serves_the_platform_on_the_embedded_default(server: str, tmp_path: Path) -> None:
    assert (tmp_path / "var" / "auterity.db").exists()
    assert (tmp_path / "var" / "secret_key").exists()
    with httpx.Client(base_url=server) as http:
        ready = http.get("/health/ready").json()
        assert ready["dependencies"]["database"]["revision"]
        assert http.get("/openapi.json").json()["info"]["title"] == "Auterity"
        assert http.get("/docs").status_code == 200
        assert "http_requests_total" in http.get("/metrics").text
        bad = http.post("/health/ready")
        assert bad.status_code == 405
        assert bad.headers["content-type"] == "application/problem+json"
        assert set(http.get("/api").json()["services"]) == {
            "automatrix",
            "relaycore",
            "neuroweaver",
        }
