"""RelayCore's own CPU per chat completion: the ASGI app driven in-process, no HTTP server.

The app (`create_app(["relaycore"])`, SQLite in a temporary directory or, with
`--database postgres`, PostgreSQL + Redis; the same operator catalog, hard budget and relay
rate limits as `relay_overhead.py`) answers requests handed to it directly as ASGI calls, one
at a time, while the upstream is the real mock over loopback. CPU is this thread's own time
(`time.thread_time`), so a busy machine disturbs it far less than latency over HTTP; the
figure to compare before and after a change. `/health/live` through the same app is the
floor. `--profile FILE` writes a cProfile (thread-CPU clock) of the chat requests.

Run it with the interpreter that has the code to measure, e.g.
`/tmp/relayvenv/bin/python benchmarks/relay_inprocess.py --requests 2000`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import uvloop
from engine import POSTGRES_URL, pg_execute
from gateways import (
    BUDGET,
    REDIS_URL,
    RELAY_LIMITS,
    RELAY_MODEL,
    UPSTREAM_KEY,
    Target,
    catalog_yaml,
    mock_upstream,
)

Message = dict[str, Any]


def configure(root: Path, upstream: str, schema: str | None) -> None:
    """Settings for the app, through the environment as `auterity serve` reads them."""
    (root / "catalog.yaml").write_text(catalog_yaml(upstream))
    os.environ.update(
        {
            "AUTERITY_DATA_DIR": str(root),
            "AUTERITY_DATABASE_URL": f"sqlite+aiosqlite:///{root / 'relay.db'}",
            "AUTERITY_SECRET_KEY": uuid.uuid4().hex * 2,
            "AUTERITY_SERVICES": "relaycore",
            "AUTERITY_LOG_LEVEL": "warning",
            "AUTERITY_RELAY_CATALOG_PATH": str(root / "catalog.yaml"),
            "AUTERITY_RELAY_PROVIDER_KEYS": json.dumps({"mock": UPSTREAM_KEY}),
            "AUTERITY_RATE_LIMIT_PER_KEY": "100000000",
        }
    )
    for name in ("AUTERITY_DATABASE_SCHEMA", "AUTERITY_REDIS_URL"):
        os.environ.pop(name, None)
    if schema is not None:
        os.environ["AUTERITY_DATABASE_URL"] = POSTGRES_URL
        os.environ["AUTERITY_DATABASE_SCHEMA"] = schema
        os.environ["AUTERITY_REDIS_URL"] = REDIS_URL


def asgi_call(app: Any, method: str, path: str, body: bytes, headers: dict[str, str]) -> Any:
    """A coroutine function making one request to `app`; it returns the status."""
    raw_headers = [(b"host", b"bench"), (b"content-length", str(len(body)).encode())]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in headers.items()]

    async def call() -> int:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": raw_headers,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 80),
            "state": {},
        }
        delivered = False
        statuses: list[int] = []

        async def receive() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()  # the client never disconnects
            raise AssertionError("unreachable")

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        await app(scope, receive, send)
        return statuses[0]

    return call


async def api_key(app: Any, controls: bool) -> str:
    """A tenant owner signs up and makes an API key, through the identity routes; with
    `controls`, a hard budget and relay rate limits are set as in `relay_overhead.py`."""
    signup = {
        "email": f"bench-{uuid.uuid4().hex[:8]}@example.com",
        "password": f"bench passphrase {uuid.uuid4().hex}",
        "tenant_name": "Relay benchmark",
    }
    import httpx

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        answer = await client.post("/api/auth/signup", json=signup)
        answer.raise_for_status()
        owner = {"Authorization": f"Bearer {answer.json()['tokens']['access_token']}"}
        request = {"name": "in-process", "allowed_models": [RELAY_MODEL]}
        answer = await client.post("/api/api-keys", json=request, headers=owner)
        answer.raise_for_status()
        key: str = answer.json()["key"]
        if controls:
            (await client.post("/api/relay/budgets", json=BUDGET, headers=owner)).raise_for_status()
            settings = await client.patch("/api/tenant/settings", json=RELAY_LIMITS, headers=owner)
            settings.raise_for_status()
        return key


async def cpu_per_request(call: Callable[[], Awaitable[int]], count: int) -> tuple[float, float]:
    """(CPU ms, wall ms) per request over `count` sequential requests."""
    cpu, wall = time.thread_time(), time.perf_counter()
    for _ in range(count):
        status = await call()
        if status != 200:
            raise RuntimeError(f"the app answered {status}")
    return (
        (time.thread_time() - cpu) * 1000 / count,
        (time.perf_counter() - wall) * 1000 / count,
    )


async def measure(args: argparse.Namespace) -> None:
    from auterity.api.app import create_app

    app = create_app(["relaycore"])
    async with app.router.lifespan_context(app):
        key = await api_key(app, args.controls == "on")
        chat = Target("relaycore", "", RELAY_MODEL, {})
        headers = {"content-type": "application/json", "authorization": f"Bearer {key}"}
        completion = asgi_call(app, "POST", "/v1/chat/completions", chat.body, headers)
        live = asgi_call(app, "GET", "/health/live", b"", {})
        await cpu_per_request(completion, args.warmup)
        for label, call in (("chat completion", completion), ("/health/live", live)):
            cpu, wall = await cpu_per_request(call, args.requests)
            print(f"{label:16} CPU {cpu:.3f} ms/request, wall {wall:.3f} ms/request")
        if args.profile:
            profile = cProfile.Profile(time.thread_time)
            profile.enable()
            await cpu_per_request(completion, args.requests)
            profile.disable()
            profile.dump_stats(args.profile)
            print(f"cProfile of {args.requests} chat completions (thread CPU): {args.profile}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--profile", type=Path, help="write a cProfile of the chat requests")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument(
        "--controls",
        choices=("on", "off"),
        default="on",
        help="a hard budget and relay rate limits (on), or auth and usage only (off)",
    )
    args = parser.parse_args(argv)
    schema = None
    if args.database == "postgres":
        schema = f"relayinproc_{uuid.uuid4().hex[:12]}"
        asyncio.run(pg_execute(f'CREATE SCHEMA "{schema}"'))
    try:
        with tempfile.TemporaryDirectory(prefix="auterity-relay-inprocess-") as directory:
            root = Path(directory)
            with contextlib.ExitStack() as stack:
                direct = stack.enter_context(mock_upstream(root, None))
                configure(root, direct.url.removesuffix("/chat/completions"), schema)
                from auterity.cli.db import run_upgrade
                from auterity.core.settings import get_settings

                run_upgrade(get_settings())
                uvloop.run(measure(args))
    finally:
        if schema is not None:
            asyncio.run(pg_execute(f'DROP SCHEMA "{schema}" CASCADE'))
    return 0


if __name__ == "__main__":
    sys.exit(main())
