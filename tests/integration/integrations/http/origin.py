"""A real HTTP server on 127.0.0.1 for outbound-HTTP tests: it records what it is sent.

Threaded (the standard library's server), so it answers while the test's event loop waits
on the client, and slow or hanging answers never block the loop under test.
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


class Origin:
    """The server's state: requests seen, per-name counters, idempotent side effects."""

    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self.counters: dict[str, int] = defaultdict(int)
        # Idempotency-Key -> the answer given the first time; the side effect happens once.
        self.orders: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()
        self.server = _QuietServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> Origin:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def seen(self, path: str) -> list[Seen]:
        with self.lock:
            return [r for r in self.requests if r.path == path]


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that give up on purpose (timeouts, size limits, a "crash") reset the
        # connection; anything else is a bug in this server and is shown.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _handler(origin: Origin) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _handle(self) -> None:
            parts = urlsplit(self.path)
            query = parse_qs(parts.query, keep_blank_values=True)
            length = int(self.headers.get("content-length") or 0)
            seen = Seen(
                self.command,
                parts.path,
                query,
                {k.lower(): v for k, v in self.headers.items()},
                self.rfile.read(length) if length else b"",
            )
            with origin.lock:
                origin.requests.append(seen)
            first, _, rest = parts.path.strip("/").partition("/")
            arg = lambda name, default="": query.get(name, [default])[0]  # noqa: E731
            if first == "echo":
                self._json(
                    200,
                    {
                        "method": seen.method,
                        "path": seen.path,
                        "query": query,
                        "headers": seen.headers,
                        "body": seen.body.decode(errors="replace"),
                    },
                )
            elif first == "status":
                extra = {"Retry-After": arg("retry_after")} if arg("retry_after") else {}
                self._json(int(rest.split("/")[0]), {"error": "as asked"}, extra)
            elif first == "flaky":
                with origin.lock:
                    origin.counters[rest] += 1
                    attempt = origin.counters[rest]
                if attempt <= int(arg("fail", "1")):
                    self._json(int(arg("status", "503")), {"attempt": attempt})
                else:
                    self._json(200, {"attempt": attempt})
            elif first == "slow":
                time.sleep(float(arg("seconds", "1")))
                self._json(200, {"slept": True})
            elif first == "trickle":
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", "20")
                self.end_headers()
                for _ in range(20):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.2)
            elif first == "big":
                self._big(int(arg("bytes", "0")), declared=arg("declared", "1") == "1")
            elif first == "redirect":
                self.send_response(int(arg("status", "302")))
                self.send_header("Location", arg("to"))
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif first == "text":
                self._raw(200, "text/plain; charset=utf-8", "héllo".encode())
            elif first == "bytes":
                self._raw(200, "application/octet-stream", bytes(range(256)))
            elif first == "not-json":
                self._raw(200, "application/json", b"<html>oops</html>")
            elif first == "cookie":
                self._json(200, {"set": True}, {"Set-Cookie": "session=tenant-a; Path=/"})
            elif first == "orders":
                self._order(seen, hang=float(arg("hang", "0")))
            else:
                self._json(404, {"error": "no such path"})

        def _order(self, seen: Seen, hang: float) -> None:
            key = seen.headers.get("idempotency-key", "")
            with origin.lock:
                replay = key in origin.orders
                if not replay:
                    origin.counters["orders"] += 1  # the side effect
                    origin.orders[key] = {"order": origin.counters["orders"]}
                answer = origin.orders[key]
            if replay:
                self._json(201, answer, {"Idempotent-Replayed": "true"})
                return
            time.sleep(hang)
            with contextlib.suppress(OSError):  # the client may have gone (the test's "crash")
                self._json(201, answer)

        def _big(self, size: int, *, declared: bool) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            if declared:
                self.send_header("Content-Length", str(size))
                self.end_headers()
                with contextlib.suppress(OSError):  # the client may refuse it unread
                    self.wfile.write(b"a" * size)
                return
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            with contextlib.suppress(OSError):  # the client stops reading at its limit
                for offset in range(0, size, 4096):
                    chunk = b"a" * min(4096, size - offset)
                    self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                self.wfile.write(b"0\r\n\r\n")

        def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            self._raw(status, "application/json", json.dumps(body).encode(), headers)

        def _raw(
            self,
            status: int,
            content_type: str,
            body: bytes,
            headers: dict[str, str] | None = None,
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

    return Handler
