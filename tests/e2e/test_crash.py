"""Crash test: kill -9 the process running steps mid-way; a restarted one finishes every run and
each side effect happens once, because retried steps send the same idempotency key.

With the local executor the victim is `auterity up` itself (it drives the runs and runs their
steps); with the Celery executor it is an `auterity worker` (with its whole pool), whose
unacknowledged tasks another worker takes over.

The side effects are POSTs to a local server that honours `Idempotency-Key` the way payment
APIs do: the first request with a key takes effect, a repeat gets the stored answer back.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.celery_workers import celery_env, start_worker, stop_worker
from tests.conftest import POSTGRES_URL
from tests.e2e.conftest import free_port

STEPS = 6
RUNS = 4


class SideEffects:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.effects: Counter[str] = Counter()  # key -> times the effect happened
        self.requests: Counter[str] = Counter()  # key -> requests received
        self.missing_key = 0


@pytest.fixture
def effects_server() -> Iterator[tuple[str, SideEffects]]:
    seen = SideEffects()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            key = self.headers.get("idempotency-key")
            time.sleep(0.15)  # a slow upstream: crashes land mid-request
            with seen.lock:
                if key is None:
                    seen.missing_key += 1
                else:
                    seen.requests[key] += 1
                    if seen.effects[key] == 0:
                        seen.effects[key] = 1
            body = json.dumps({"ok": True, "key": key}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()


def _start(env: dict[str, str], cwd: Path, port: int) -> subprocess.Popen[bytes]:
    # Output to a file (nobody drains a pipe while the test runs), shown if it never gets ready.
    with (cwd / "up.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "auterity.cli.main", "up", "--port", str(port)],
            cwd=cwd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _wait_ready(base: str, process: subprocess.Popen[bytes], cwd: Path) -> None:
    # Generous: migrations of every PostgreSQL schema on the server share one advisory lock,
    # so parallel suites starting processes queue behind each other.
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if httpx.get(f"{base}/health/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    log = (cwd / "up.log").read_text(errors="replace")[-3000:]
    raise AssertionError(f"auterity up not ready in 90 s (exit code {process.poll()}):\n{log}")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    if request.param == "sqlite":
        yield {"AUTERITY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'crash.db'}"}
        return
    import asyncio

    schema = f"crash_{uuid.uuid4().hex[:12]}"
    dsn = POSTGRES_URL.replace("postgresql+asyncpg://", "postgresql://")

    async def run_sql(sql: str) -> None:
        conn = await asyncpg.connect(dsn, timeout=3)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    try:
        asyncio.run(run_sql(f'CREATE SCHEMA "{schema}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.skip(f"PostgreSQL at {POSTGRES_URL} did not answer: {exc!r}")
    try:
        yield {"AUTERITY_DATABASE_URL": POSTGRES_URL, "AUTERITY_DATABASE_SCHEMA": schema}
    finally:
        asyncio.run(run_sql(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.mark.parametrize("executor", ["local", "celery"])
def test_kill_minus_nine_mid_run_loses_nothing_and_repeats_nothing(
    tmp_path: Path,
    effects_server: tuple[str, SideEffects],
    database_env: dict[str, str],
    executor: str,
) -> None:
    url, seen = effects_server
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        **database_env,
        "AUTERITY_DATA_DIR": str(tmp_path / "var"),
        "AUTERITY_ENGINE_LEASE_SECONDS": "2",
        "AUTERITY_ENGINE_POLL_SECONDS": "0.2",
        "AUTERITY_HTTP_ALLOWED_PRIVATE_NETWORKS": "127.0.0.1/32",
        "AUTERITY_RATE_LIMIT_PER_IP": "0",
        "AUTERITY_RATE_LIMIT_PER_KEY": "0",
        "AUTERITY_ACCESS_LOG": "false",
    }
    if executor == "celery":
        # A dead worker's tasks go to another after 3 s (production: an hour, or the
        # longest step).
        env = celery_env({**env, "AUTERITY_CELERY_VISIBILITY_TIMEOUT": "3"})
    spec: dict[str, Any] = {
        "name": "payments",
        "steps": [
            {
                "id": f"pay{n}",
                "uses": "http.request",
                "needs": [f"pay{n - 1}"] if n else [],
                "with": {"method": "POST", "url": f"{url}/charge", "json": {"step": n}},
            }
            for n in range(STEPS)
        ],
    }
    process = _start(env, tmp_path, port)
    worker_log = tmp_path / "worker.log"
    worker = start_worker(env, worker_log, concurrency=4) if executor == "celery" else None
    try:
        _wait_ready(base, process, tmp_path)
        with httpx.Client(base_url=base, timeout=10) as http:
            signup = http.post(
                "/api/auth/signup",
                json={
                    "email": "ops@example.com",
                    "password": "correct horse battery staple",
                    "tenant_name": "Ops",
                },
            )
            headers = {"Authorization": f"Bearer {signup.json()['tokens']['access_token']}"}
            workflow = http.post("/api/workflows", json=spec, headers=headers).json()
            run_ids = [
                http.post(f"/api/workflows/{workflow['id']}/runs", json={}, headers=headers).json()[
                    "id"
                ]
                for _ in range(RUNS)
            ]
            # Kill once some, but not all, side effects have happened.
            deadline = time.monotonic() + 30
            while sum(seen.requests.values()) < RUNS * 2 and time.monotonic() < deadline:
                time.sleep(0.02)
            if worker is not None:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(10)
            else:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(10)
            assert sum(seen.effects.values()) < RUNS * STEPS, (
                "the crash came too late to test anything"
            )

            if worker is not None:
                worker = start_worker(env, worker_log, concurrency=4)
            else:
                process = _start(env, tmp_path, port)
                _wait_ready(base, process, tmp_path)
            deadline = time.monotonic() + 60
            statuses: dict[str, str] = {}
            while time.monotonic() < deadline:
                statuses = {
                    r: http.get(f"/api/runs/{r}", headers=headers).json()["status"] for r in run_ids
                }
                if all(s in ("succeeded", "failed", "cancelled") for s in statuses.values()):
                    break
                time.sleep(0.2)
        log = worker_log.read_text(errors="replace")[-3000:] if worker is not None else ""
        assert set(statuses.values()) == {"succeeded"}, (statuses, log)
        assert seen.missing_key == 0
        expected = {f"{run}:pay{n}" for run in run_ids for n in range(STEPS)}
        assert set(seen.effects) == expected
        assert all(count == 1 for count in seen.effects.values())
    finally:
        if worker is not None:
            stop_worker(worker)
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
