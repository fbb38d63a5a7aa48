"""Runs the real OpenID Provider (`oidc-provider` on Node) on a free loopback port for tests.

`npm ci` runs once when the fixture's node_modules are missing (the Makefile's `test` target
also does it); a file lock keeps parallel pytest workers from installing at the same time.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

FIXTURE_DIR = Path(__file__).resolve().parents[3] / "fixtures" / "oidc"
CALLBACK_URL = "http://testserver/api/auth/sso/callback"
CLIENT_ID = "auterity-test"
CLIENT_SECRET = "test-secret-that-must-never-leak"
ACCOUNTS = {
    "alice": {"email": "Alice@Example.com", "email_verified": True, "groups": ["admins", "staff"]},
    "bob": {"email": "bob@example.com", "email_verified": True, "groups": ["devs"]},
    "carol": {"email": "carol@example.com", "email_verified": True, "groups": []},
    "dave": {"email": "dave@example.com", "email_verified": True, "groups": ["devs"]},
    "mallory": {"email": "mallory@evil.test", "email_verified": True, "groups": ["admins"]},
    "unverified": {"email": "victim@example.com", "email_verified": False, "groups": ["admins"]},
}


@dataclass(frozen=True)
class OidcServer:
    issuer: str
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _ensure_node_modules() -> None:
    if (FIXTURE_DIR / "node_modules" / "oidc-provider").is_dir():
        return
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is needed to install the test OpenID Provider; run `make test`.")
    lock_path = Path(tempfile.gettempdir()) / "auterity-oidc-npm.lock"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (FIXTURE_DIR / "node_modules" / "oidc-provider").is_dir():
            subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund"], cwd=FIXTURE_DIR, check=True, timeout=300
            )


def _wait_until_up(issuer: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"oidc-provider exited at start:\n{log.read_text()}")
        try:
            response = httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=1)
            if response.status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.kill()
    pytest.fail(f"oidc-provider did not answer within 30 s:\n{log.read_text()}")


@pytest.fixture(scope="session")
def oidc_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcServer]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js (20+) is needed for the OpenID Provider the SSO tests run against.")
    _ensure_node_modules()
    port = _free_port()
    issuer = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("oidc") / "server.log"
    env = {
        **os.environ,
        "OIDC_PORT": str(port),
        "OIDC_CLIENTS": json.dumps(
            [
                {
                    "client_id": CLIENT_ID,
                    "client_secret": CLIENT_SECRET,
                    "redirect_uris": [CALLBACK_URL],
                }
            ]
        ),
        "OIDC_ACCOUNTS": json.dumps(ACCOUNTS),
    }
    with log.open("wb") as output:
        process = subprocess.Popen(
            [node, "server.js"], cwd=FIXTURE_DIR, env=env, stdout=output, stderr=output
        )
    try:
        _wait_until_up(issuer, process, log)
        yield OidcServer(issuer=issuer)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
