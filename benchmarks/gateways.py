"""The servers `relay_overhead.py` measures: the mock upstream, RelayCore and Portkey's gateway.

Each starts as a child process in its own session (pinned to the servers' core, killed with
its group at the end) and counts as up only once a real request through it answers 200, so a
misconfigured path fails before any load is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from api_baseline import free_port, stop_group
from engine import POSTGRES_URL, pg_execute
from engine import postgres_unavailable as engine_postgres_unavailable

HERE = Path(__file__).resolve().parent
UPSTREAM_KEY = "sk-bench-upstream"
PORTKEY_VERSION = "1.15.2"
PORTKEY_DIR = HERE / ".portkey"
REDIS_URL = os.environ.get("AUTERITY_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
RELAY_MODEL = "bench-mini"  # the catalog entry RelayCore routes to the mock
# A small, ordinary request: a system prompt, one user turn, a token cap.
REQUEST = {
    "messages": [
        {"role": "system", "content": "You are a helpful assistant. Answer briefly."},
        {"role": "user", "content": "Say hello to the benchmark."},
    ],
    "max_tokens": 32,
    "temperature": 0,
}


# What the benchmark turns on besides auth: a hard budget and relay rate limits, both far
# above what the load reaches, so every request is counted, reserved and settled.
BUDGET = {
    "name": "benchmark",
    "scope": "tenant",
    "period": "month",
    "limit_micros": 10**12,
    "mode": "hard",
}
CEILING = {"requests_per_minute": 10_000_000, "tokens_per_minute": 10_000_000_000}
RELAY_LIMITS = {"relay": {"tenant_limits": CEILING, "key_limits": CEILING}}


@dataclass
class Target:
    name: str
    url: str
    model: str
    headers: dict[str, str]
    process: subprocess.Popen[bytes] | None = None  # the target's own process, not the mock
    notes: list[str] = field(default_factory=list)

    @property
    def body(self) -> bytes:
        return json.dumps({"model": self.model, **REQUEST}, separators=(",", ":")).encode()


# Raised priority for everything the benchmark starts (`--nice`); 0 leaves it as inherited.
NICE = {"value": 0}


@contextlib.contextmanager
def spawn(
    command: list[str], log: Path, core: int | None, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """A child process in its own session, pinned to `core`, killed with its group at exit."""
    nice = NICE["value"]

    def in_child() -> None:  # before exec, so every thread the server starts inherits both
        if core is not None:
            os.sched_setaffinity(0, {core})
        if nice:
            os.nice(nice)

    with log.open("ab") as out:
        process = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=log.parent,
            start_new_session=True,
            preexec_fn=in_child,
        )
    try:
        yield process
    finally:
        stop_group(process)


def call(
    method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    try:
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.request(method, path, body, {"content-type": "application/json", **(headers or {})})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def log_tail(log: Path, lines: int = 15) -> str:
    """The end of a server's log, for an error message (the log goes with its temporary dir)."""
    with contextlib.suppress(OSError):
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    return ""


def wait_until_answering(target: Target, log: Path, limit_s: float = 90) -> None:
    """Until one request through `target` answers 200: the whole path works before the load."""
    deadline = time.monotonic() + limit_s
    last = "no answer"
    while time.monotonic() < deadline:
        if target.process is not None and target.process.poll() is not None:
            raise RuntimeError(
                f"{target.name} exited ({target.process.returncode}):\n{log_tail(log)}"
            )
        try:
            status, answer = call("POST", target.url, target.body, target.headers)
        except OSError as exc:
            last = repr(exc)
        else:
            if status == 200:
                return
            last = f"{status} {answer[:300]!r}"
        time.sleep(0.2)
    raise RuntimeError(f"{target.name} never answered 200 (last: {last}):\n{log_tail(log)}")


# -- the mock upstream ---------------------------------------------------------------------


@contextlib.contextmanager
def mock_upstream(root: Path, core: int | None) -> Iterator[Target]:
    port = free_port()
    log = root / "mock.log"
    command = [sys.executable, str(HERE / "mock_openai.py"), "--port", str(port)]
    with spawn(command, log, core) as process:
        target = Target(
            "direct",
            f"http://127.0.0.1:{port}/v1/chat/completions",
            "gpt-4o-mini",
            {"Authorization": f"Bearer {UPSTREAM_KEY}"},
            process,
        )
        wait_until_answering(target, log)
        yield target


# -- RelayCore -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RelayConfig:
    upstream: str  # the mock's base URL, .../v1
    database: str  # postgres (with Redis) or sqlite
    python: str
    source: Path | None  # another checkout's root (its src on PYTHONPATH); None: installed
    access_log: bool


def catalog_yaml(upstream: str) -> str:
    """The operator's catalog: one OpenAI-compatible provider at the mock, one model on it."""
    return (
        "providers:\n"
        "  mock:\n"
        "    kind: compatible\n"
        f"    base_url: {upstream}\n"
        "models:\n"
        f"  {RELAY_MODEL}:\n"
        "    context_window: 128000\n"
        "    max_output_tokens: 16384\n"
        '    price: {input: "0.15", output: "0.60", cached_input: "0.075"}\n'
        "    capabilities: [tools, json_schema, streaming]\n"
        "    tier: cheap\n"
        "    deployments: [{provider: mock, model: gpt-4o-mini}]\n"
    )


def postgres_unavailable() -> str | None:
    """Why PostgreSQL or Redis cannot serve the relay here, or None when both answer."""
    reason = asyncio.run(engine_postgres_unavailable())
    if reason:
        return reason
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=5).ping()
    except Exception as exc:
        return f"Redis at {REDIS_URL} did not answer: {exc!r}"
    return None


def relay_env(config: RelayConfig, data_dir: Path, schema: str | None) -> dict[str, str]:
    env = {
        **os.environ,
        "AUTERITY_DATA_DIR": str(data_dir),
        "AUTERITY_ENVIRONMENT": "production",
        "AUTERITY_SECRET_KEY": uuid.uuid4().hex * 2,
        "AUTERITY_ACCESS_LOG": str(config.access_log).lower(),
        "AUTERITY_RELAY_CATALOG_PATH": str(data_dir / "catalog.yaml"),
        "AUTERITY_RELAY_PROVIDER_KEYS": json.dumps({"mock": UPSTREAM_KEY}),
        # The platform's per-key request limiter stays on (it counts every request, in Redis
        # when configured) with a ceiling this load never reaches.
        "AUTERITY_RATE_LIMIT_PER_KEY": "100000000",
    }
    for name in ("AUTERITY_DATABASE_URL", "AUTERITY_DATABASE_SCHEMA", "AUTERITY_REDIS_URL"):
        env.pop(name, None)
    if schema is not None:
        env["AUTERITY_DATABASE_URL"] = POSTGRES_URL
        env["AUTERITY_DATABASE_SCHEMA"] = schema
        env["AUTERITY_REDIS_URL"] = REDIS_URL
    if config.source is not None:
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(config.source / "src"), env.get("PYTHONPATH")])
        )
    return env


def _json(status: int, body: bytes, what: str) -> dict[str, object]:
    if status >= 300:
        raise RuntimeError(f"{what} answered {status}: {body[:500]!r}")
    answer: dict[str, object] = json.loads(body)
    return answer


def make_api_key(base: str) -> tuple[str, list[str]]:
    """Sign up a tenant owner, then create an API key for the bench model (identity API)."""
    signup = {
        "email": f"bench-{uuid.uuid4().hex[:8]}@example.com",
        "password": f"bench passphrase {uuid.uuid4().hex}",
        "tenant_name": "Relay benchmark",
    }
    status, body = call("POST", f"{base}/api/auth/signup", json.dumps(signup).encode())
    tokens = _json(status, body, "signup")["tokens"]
    assert isinstance(tokens, dict)
    owner = {"Authorization": f"Bearer {tokens['access_token']}"}
    request = {"name": "relay benchmark", "allowed_models": [RELAY_MODEL]}
    status, body = call("POST", f"{base}/api/api-keys", json.dumps(request).encode(), owner)
    key = _json(status, body, "POST /api/api-keys")["key"]
    assert isinstance(key, str)
    return key, enable_controls(base, owner)


def enable_controls(base: str, owner: dict[str, str]) -> list[str]:
    """Turn on what this RelayCore build offers besides auth; say what is on and what is not."""
    status, body = call("GET", f"{base}/openapi.json")
    paths = _json(status, body, "openapi.json").get("paths")
    assert isinstance(paths, dict)
    status, body = call("GET", f"{base}/api")
    services = _json(status, body, "GET /api").get("services")
    notes = [
        f"services in the process (GET /api): {services}",
        "auth: API key made through the identity API",
        "rate limit: the platform's per-key request limiter, counting, ceiling 100M/min",
    ]
    relay_paths = sorted(p for p in paths if p.startswith("/api/relay"))
    if "/api/relay/budgets" in paths:
        status, body = call("POST", f"{base}/api/relay/budgets", json.dumps(BUDGET).encode(), owner)
        _json(status, body, "POST /api/relay/budgets")
        notes.append(
            "budget: a hard monthly tenant budget of $1M (reserved and settled per request)"
        )
    else:
        notes.append("budgets: not in this build")
    status, body = call(
        "PATCH", f"{base}/api/tenant/settings", json.dumps(RELAY_LIMITS).encode(), owner
    )
    if status < 300:
        notes.append("relay rate limits: requests and tokens per minute, per tenant and per key")
    else:
        notes.append(f"relay rate limits: not in this build ({status})")
    notes.append(
        "usage accounting: " + ("on" if "/api/relay/usage" in paths else "not in this build")
    )
    notes.append("relay admin routes: " + (", ".join(relay_paths) or "none"))
    return notes


@dataclass
class RelayServer:
    target: Target
    log: Path


@contextlib.contextmanager
def relay_server(config: RelayConfig, root: Path, core: int | None) -> Iterator[RelayServer]:
    """`auterity serve relaycore` on a fresh database, with an API key; yields its target."""
    data_dir = root / f"relay-{config.database}"
    data_dir.mkdir()
    (data_dir / "catalog.yaml").write_text(catalog_yaml(config.upstream))
    schema = None
    if config.database == "postgres":
        schema = f"relaybench_{uuid.uuid4().hex[:12]}"
        asyncio.run(pg_execute(f'CREATE SCHEMA "{schema}"'))
    try:
        port = free_port()
        log = data_dir / "relaycore.log"
        command = [config.python, "-m", "auterity.cli.main", "serve", "relaycore"]
        command += ["--port", str(port)]
        env = relay_env(config, data_dir, schema)
        with spawn(command, log, core, env) as process:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 90
            while True:
                with contextlib.suppress(OSError):
                    if call("GET", f"{base}/health/ready")[0] == 200:
                        break
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"RelayCore did not become ready:\n{log_tail(log)}")
                time.sleep(0.1)
            key, notes = make_api_key(base)
            database = (
                "PostgreSQL + Redis" if schema else "SQLite (embedded default)"
            ) + f", access log {'on' if config.access_log else 'off'}"
            target = Target(
                "relaycore",
                f"{base}/v1/chat/completions",
                RELAY_MODEL,
                {"Authorization": f"Bearer {key}"},
                process,
                [database, *notes],
            )
            wait_until_answering(target, log)
            yield RelayServer(target, log)
    finally:
        if schema is not None:
            asyncio.run(pg_execute(f'DROP SCHEMA "{schema}" CASCADE'))


# -- Portkey ---------------------------------------------------------------------------------


def ensure_portkey() -> Path | None:
    """Portkey's gateway under benchmarks/.portkey (npm install on first use); None without npm."""
    entry = PORTKEY_DIR / "node_modules/@portkey-ai/gateway/build/start-server.js"
    if entry.exists():
        return entry
    if shutil.which("npm") is None or shutil.which("node") is None:
        return None
    PORTKEY_DIR.mkdir(exist_ok=True)
    (PORTKEY_DIR / "package.json").write_text('{"name": "portkey-bench", "private": true}\n')
    print(f"Installing @portkey-ai/gateway@{PORTKEY_VERSION} into {PORTKEY_DIR} ...", flush=True)
    subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", f"@portkey-ai/gateway@{PORTKEY_VERSION}"],
        cwd=PORTKEY_DIR,
        check=True,
        capture_output=True,
    )
    return entry


@contextlib.contextmanager
def portkey_gateway(entry: Path, upstream: str, root: Path, core: int | None) -> Iterator[Target]:
    port = free_port()
    log = root / "portkey.log"
    with spawn(["node", str(entry), f"--port={port}"], log, core) as process:
        version = json.loads((entry.parents[1] / "package.json").read_text())["version"]
        node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout
        target = Target(
            "portkey",
            f"http://127.0.0.1:{port}/v1/chat/completions",
            "gpt-4o-mini",
            {
                "Authorization": f"Bearer {UPSTREAM_KEY}",
                "x-portkey-provider": "openai",
                "x-portkey-custom-host": upstream,
            },
            process,
            [f"@portkey-ai/gateway {version} on node {node.strip()}, its defaults"],
        )
        wait_until_answering(target, log)
        yield target
