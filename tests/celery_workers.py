"""Real Celery worker subprocesses for the tests that run steps on the Celery executor.

Each pytest-xdist worker uses its own Redis database and queue names, so parallel sessions
never take each other's step tasks.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from tests.conftest import REDIS_URL


def session_redis_url() -> str:
    """REDIS_URL with a database number of this xdist worker's own (10 + its index)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker.removeprefix("gw") or 0)
    base = REDIS_URL.rsplit("/", 1)[0] if REDIS_URL.count("/") > 2 else REDIS_URL
    return f"{base}/{10 + index % 6}"


def celery_env(extra: dict[str, str]) -> dict[str, str]:
    """The environment of an engine or worker process using the Celery executor."""
    return {
        **os.environ,
        "AUTERITY_EXECUTOR": "celery",
        "AUTERITY_REDIS_URL": session_redis_url(),
        "AUTERITY_CELERY_QUEUE": f"steps-{uuid.uuid4().hex[:10]}",
        "AUTERITY_LOG_FORMAT": "json",
        **extra,
    }


def start_worker(
    env: dict[str, str],
    log: Path,
    command: list[str] | None = None,
    concurrency: int = 8,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """`auterity worker` (or `command`, a launcher adding test actions) in its own session,
    so that a kill takes its whole pool with it. Output goes to `log` (a file: nobody drains
    a pipe while tests run)."""
    argv = command or [sys.executable, "-m", "auterity.cli.main", "worker"]
    with log.open("ab") as output:
        return subprocess.Popen(
            [*argv, "--concurrency", str(concurrency)],
            env=env,
            cwd=cwd,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_worker(process: subprocess.Popen[bytes], timeout: float = 10) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)  # warm shutdown: running attempts finish
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)
