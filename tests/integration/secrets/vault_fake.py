"""A small real HTTP server that speaks Vault's KV v2 wire format, for the Vault backend's tests.

It follows Vault's documented API (https://developer.hashicorp.com/vault/api-docs/secret/kv/kv-v2)
for what a KV v2 client uses: `data/` reads and writes (with `options.cas`), `metadata/` read,
write, delete and LIST (the LIST verb or `GET ?list=true`), the `X-Vault-Token` check
(403 `{"errors": ["permission denied"]}`), 404 `{"errors": []}` for absent paths, RFC 3339
times with nanoseconds, and the default of keeping 10 versions per key.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

DEFAULT_MAX_VERSIONS = 10


def vault_time() -> str:
    """Now as Go's RFC3339Nano, as Vault writes it (`2018-03-22T02:24:06.945319214Z`)."""
    nanos = time.time_ns()
    seconds, fraction = divmod(nanos, 1_000_000_000)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    digits = f"{fraction:09d}".rstrip("0")
    return f"{stamp}.{digits}Z" if digits else f"{stamp}Z"


@dataclass
class Version:
    data: dict[str, Any] | None
    created_time: str
    deletion_time: str = ""
    destroyed: bool = False

    def metadata(self, number: int, custom: dict[str, str] | None) -> dict[str, Any]:
        return {
            "created_time": self.created_time,
            "custom_metadata": custom,
            "deletion_time": self.deletion_time,
            "destroyed": self.destroyed,
            "version": number,
        }


@dataclass
class Key:
    created_time: str
    updated_time: str
    current_version: int = 0
    oldest_version: int = 0
    max_versions: int = 0
    cas_required: bool = False
    delete_version_after: str = "0s"
    custom_metadata: dict[str, str] | None = None
    versions: dict[int, Version] = field(default_factory=dict)


class FakeVault:
    """The KV v2 engine mounted at `mount`, served on 127.0.0.1 at a free port."""

    def __init__(self, token: str = "root-token", mount: str = "secret") -> None:
        self.token = token
        self.mount = mount
        self.keys: dict[str, Key] = {}
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeVault:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # -- the KV v2 engine ------------------------------------------------------------------

    def write_data(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any] | None]:
        data = body.get("data")
        if not isinstance(data, dict):
            return 400, {"errors": ["no data provided"]}
        options = body.get("options") or {}
        now = vault_time()
        key = self.keys.get(path)
        if "cas" in options or (key is not None and key.cas_required):
            current = key.current_version if key else 0
            if "cas" not in options:
                return 400, {"errors": ["check-and-set parameter required for this call"]}
            if int(options["cas"]) != current:
                return 400, {
                    "errors": ["check-and-set parameter did not match the current version"]
                }
        if key is None:
            key = self.keys[path] = Key(created_time=now, updated_time=now)
        key.current_version += 1
        key.updated_time = now
        key.versions[key.current_version] = Version(data=data, created_time=now)
        if key.oldest_version == 0:
            key.oldest_version = 1
        keep = key.max_versions or DEFAULT_MAX_VERSIONS
        while len(key.versions) > keep:
            oldest = min(key.versions)
            del key.versions[oldest]
            key.oldest_version = min(key.versions)
        version = key.versions[key.current_version]
        return 200, _envelope(version.metadata(key.current_version, key.custom_metadata))

    def read_data(self, path: str, wanted: int) -> tuple[int, dict[str, Any] | None]:
        key = self.keys.get(path)
        if key is None:
            return 404, {"errors": []}
        number = wanted or key.current_version
        version = key.versions.get(number)
        if version is None:
            return 404, {"errors": []}
        metadata = version.metadata(number, key.custom_metadata)
        if version.deletion_time or version.destroyed:
            # Vault answers 404 but still shows the metadata of a deleted version.
            return 404, _envelope({"data": None, "metadata": metadata})
        return 200, _envelope({"data": version.data, "metadata": metadata})

    def read_metadata(self, path: str) -> tuple[int, dict[str, Any] | None]:
        key = self.keys.get(path)
        if key is None:
            return 404, {"errors": []}
        return 200, _envelope(
            {
                "cas_required": key.cas_required,
                "created_time": key.created_time,
                "current_version": key.current_version,
                "custom_metadata": key.custom_metadata,
                "delete_version_after": key.delete_version_after,
                "max_versions": key.max_versions,
                "oldest_version": key.oldest_version,
                "updated_time": key.updated_time,
                "versions": {
                    str(number): {
                        "created_time": version.created_time,
                        "deletion_time": version.deletion_time,
                        "destroyed": version.destroyed,
                    }
                    for number, version in sorted(key.versions.items())
                },
            }
        )

    def write_metadata(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any] | None]:
        now = vault_time()
        key = self.keys.setdefault(path, Key(created_time=now, updated_time=now))
        # Like Vault: only the fields present in the request change.
        if "max_versions" in body:
            key.max_versions = int(body["max_versions"])
        if "cas_required" in body:
            key.cas_required = bool(body["cas_required"])
        if "delete_version_after" in body:
            key.delete_version_after = str(body["delete_version_after"])
        if "custom_metadata" in body:
            custom = body["custom_metadata"]
            if not isinstance(custom, dict) or not all(isinstance(v, str) for v in custom.values()):
                return 400, {"errors": ["custom_metadata must be a map of strings"]}
            key.custom_metadata = custom
        key.updated_time = now
        return 204, None

    def delete_metadata(self, path: str) -> tuple[int, dict[str, Any] | None]:
        self.keys.pop(path, None)
        return 204, None

    def soft_delete_latest(self, path: str) -> None:
        """What `vault kv delete` does (DELETE data/<path>), for tests that need it."""
        with self.lock:
            key = self.keys[path]
            key.versions[key.current_version].deletion_time = vault_time()

    def list_keys(self, path: str) -> tuple[int, dict[str, Any] | None]:
        prefix = path.rstrip("/") + "/" if path.strip("/") else ""
        found: set[str] = set()
        for stored in self.keys:
            if stored.startswith(prefix):
                head, slash, _ = stored[len(prefix) :].partition("/")
                found.add(head + slash)
        if not found:
            return 404, {"errors": []}
        return 200, _envelope({"keys": sorted(found)})


def _envelope(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "request_id": str(uuid.uuid4()),
        "lease_id": "",
        "renewable": False,
        "lease_duration": 0,
        "data": data,
        "wrap_info": None,
        "warnings": None,
        "auth": None,
        "mount_type": "kv",
    }


def _handler_for(vault: FakeVault) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the tests read `vault.requests` instead."""

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def do_PUT(self) -> None:
            self._serve("POST")

        def do_DELETE(self) -> None:
            self._serve("DELETE")

        def do_LIST(self) -> None:
            self._serve("LIST")

        def _serve(self, method: str) -> None:
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            if method == "GET" and query.get("list") == ["true"]:
                method = "LIST"
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            vault.requests.append((method, parts.path))
            if self.headers.get("X-Vault-Token") != vault.token:
                self._reply(403, {"errors": ["permission denied"]})
                return
            try:
                body = json.loads(raw) if raw else {}
            except ValueError:
                self._reply(400, {"errors": ["failed to parse JSON input"]})
                return
            with vault.lock:
                status, payload = self._route(method, parts.path, query, body)
            self._reply(status, payload)

        def _route(
            self, method: str, path: str, query: dict[str, list[str]], body: dict[str, Any]
        ) -> tuple[int, dict[str, Any] | None]:
            mount_prefix = f"/v1/{vault.mount}/"
            if not path.startswith(mount_prefix):
                route = path.removeprefix("/v1/")
                return 404, {"errors": [f'no handler for route "{route}". route entry not found.']}
            kind, _, key = path[len(mount_prefix) :].partition("/")
            if kind == "data" and method == "POST":
                return vault.write_data(key, body)
            if kind == "data" and method == "GET":
                return vault.read_data(key, int((query.get("version") or ["0"])[0]))
            if kind == "metadata" and method == "GET":
                return vault.read_metadata(key)
            if kind == "metadata" and method == "POST":
                return vault.write_metadata(key, body)
            if kind == "metadata" and method == "DELETE":
                return vault.delete_metadata(key)
            if kind == "metadata" and method == "LIST":
                return vault.list_keys(key)
            return 405, {"errors": ["1 error occurred:\n\t* unsupported operation\n\n"]}

        def _reply(self, status: int, payload: dict[str, Any] | None) -> None:
            body = b"" if payload is None else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Cache-Control", "no-store")
            if payload is not None:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler
