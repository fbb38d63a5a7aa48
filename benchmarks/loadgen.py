"""Open-loop, fixed-rate HTTP/1.1 load generator: latency measured from each scheduled send time.

Requests (a GET, or a POST with a fixed body and headers) are scheduled at exact instants
(`start + i / rate`) whatever the server does, and latency runs from that instant, so a slow
server is charged for the requests it held back (no coordinated omission). A pool of
keep-alive connections (asyncio streams on uvloop, a hand-written response parser) sends them;
a request that finds every connection busy waits, and the wait counts. Run alone:
`python benchmarks/loadgen.py URL --rate 500`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import uvloop

MAX_HEADER_BYTES = 64 * 1024


@dataclass
class LoadResult:
    """What one fixed-rate run saw; latencies (seconds) cover answered and timed-out requests."""

    target_rps: float
    duration_s: float
    scheduled: int = 0
    sent: int = 0  # written to a connection (the rest gave up waiting for one)
    ok: int = 0
    non_2xx: int = 0
    timeouts: int = 0
    connection_errors: int = 0
    elapsed_s: float = 0.0
    client_cpu_s: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)  # every answer, by HTTP status
    # How late the generator's own loop woke from 1 ms sleeps: time it charged to the server.
    generator_lags: list[float] = field(default_factory=list)

    @property
    def errors(self) -> int:
        return self.non_2xx + self.timeouts + self.connection_errors

    @property
    def error_pct(self) -> float:
        return 100.0 * self.errors / self.scheduled if self.scheduled else 0.0

    @property
    def client_cpu_pct(self) -> float:
        """The generator's own CPU use; near 100 % it, not the server, sets the pace."""
        return 100.0 * self.client_cpu_s / self.elapsed_s if self.elapsed_s else 0.0

    @property
    def achieved_rps(self) -> float:
        """2xx answers per second over the run, including the drain after the last send."""
        return self.ok / self.elapsed_s if self.elapsed_s else 0.0

    def percentile_ms(self, pct: float) -> float:
        return _percentile(self.latencies, pct) * 1000

    def generator_lag_ms(self, pct: float) -> float:
        return _percentile(self.generator_lags, pct) * 1000


def _percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


class ProtocolError(Exception):
    """The server's answer is not an HTTP/1.1 response this parser understands."""


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one response; returns (status, whether the server closes the connection)."""
    head = await reader.readuntil(b"\r\n\r\n")
    if len(head) > MAX_HEADER_BYTES:
        raise ProtocolError("header too large")
    lines = head[:-4].split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        raise ProtocolError(f"bad status line {lines[0]!r}")
    status = int(parts[1])
    length = 0
    chunked = False
    closes = parts[0] == b"HTTP/1.0"
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = value.strip().lower() == b"chunked"
            if not chunked:
                raise ProtocolError(f"transfer-encoding {value.strip()!r} is not supported")
        elif name == b"connection":
            closes = value.strip().lower() == b"close"
    if chunked:  # Node's servers (Portkey) answer without a Content-Length
        await _read_chunked(reader)
    elif length:
        await reader.readexactly(length)
    return status, closes


async def _read_chunked(reader: asyncio.StreamReader) -> None:
    while size := int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16):
        await reader.readexactly(size + 2)  # the chunk and its CRLF
    while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers, then the empty line
        pass


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def close(self) -> None:
        self.writer.close()


def build_request(
    method: str, url: str, body: bytes | None = None, headers: Mapping[str, str] | None = None
) -> bytes:
    """One HTTP/1.1 request as bytes, built once and written for every send."""
    parts = urlsplit(url)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    lines = [
        f"{method} {path} HTTP/1.1",
        f"Host: {parts.hostname or '127.0.0.1'}:{parts.port or 80}",
        "User-Agent: auterity-loadgen",
        *(f"{name}: {value}" for name, value in (headers or {}).items()),
    ]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


async def _connect(host: str, port: int) -> _Connection:
    reader, writer = await asyncio.open_connection(host, port, limit=MAX_HEADER_BYTES * 2)
    return _Connection(reader, writer)


async def run_load(
    url: str,
    rate: float,
    duration: float,
    *,
    connections: int = 32,
    request_timeout: float = 2.0,
    method: str = "GET",
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> LoadResult:
    """Send `method url` at `rate` requests/s for `duration` seconds; call inside a running loop.

    Every request is the same bytes: `body` (with its Content-Length) and `headers` added.
    """
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = build_request(method, url, body, headers)
    result = LoadResult(target_rps=rate, duration_s=duration)
    total = int(rate * duration)
    queue: asyncio.Queue[float | None] = asyncio.Queue()

    async def worker(conn: _Connection | None) -> None:
        while (scheduled := await queue.get()) is not None:
            waited = time.perf_counter() - scheduled
            if waited >= request_timeout:  # a real client would have given up already
                result.timeouts += 1
                result.latencies.append(waited)
                continue
            try:
                # The timeout runs from the scheduled instant, like the latency.
                async with asyncio.timeout(request_timeout - waited):
                    if conn is None:
                        conn = await _connect(host, port)
                    conn.writer.write(request)
                    result.sent += 1
                    status, closes = await read_response(conn.reader)
            except TimeoutError:
                result.timeouts += 1
                result.latencies.append(time.perf_counter() - scheduled)
                closes = True
            except (OSError, EOFError, asyncio.LimitOverrunError, ProtocolError, ValueError):
                result.connection_errors += 1
                closes = True
            else:
                result.latencies.append(time.perf_counter() - scheduled)
                result.statuses[status] += 1
                if 200 <= status < 300:
                    result.ok += 1
                else:
                    result.non_2xx += 1
            if closes and conn is not None:
                conn.close()
                conn = None
        if conn is not None:
            conn.close()

    # Connect up front so the first scheduled requests do not pay for the handshakes.
    opened = await asyncio.gather(
        *(_connect(host, port) for _ in range(connections)), return_exceptions=True
    )
    pool = [conn if isinstance(conn, _Connection) else None for conn in opened]
    workers = [asyncio.create_task(worker(conn)) for conn in pool]

    async def watch_own_loop() -> None:
        while True:
            asleep = time.perf_counter()
            await asyncio.sleep(0.001)
            result.generator_lags.append(max(0.0, time.perf_counter() - asleep - 0.001))

    watcher = asyncio.create_task(watch_own_loop())
    cpu_started = time.process_time()
    started = time.perf_counter()
    queued = 0
    while queued < total:
        # uvloop timers tick in milliseconds: enqueue everything due, each with its own instant.
        due = min(total, int((time.perf_counter() - started) * rate) + 1)
        while queued < due:
            queue.put_nowait(started + queued / rate)
            queued += 1
        await asyncio.sleep(max(0.0, started + queued / rate - time.perf_counter()))
    result.scheduled = total
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    watcher.cancel()
    result.elapsed_s = max(duration, time.perf_counter() - started)
    result.client_cpu_s = time.process_time() - cpu_started
    return result


def pin_to_core(core: int) -> bool:
    """Keep this process on one core; False where the platform cannot."""
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(0, {core})
        return True
    return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds per request")
    parser.add_argument("--core", type=int, default=None, help="pin the generator to this core")
    args = parser.parse_args()
    if args.core is not None and pin_to_core(args.core):
        print(f"load generator pinned to core {args.core}")
    result = uvloop.run(
        run_load(
            args.url,
            args.rate,
            args.duration,
            connections=args.connections,
            request_timeout=args.timeout,
        )
    )
    print(
        f"target {result.target_rps:.0f} rps  achieved {result.achieved_rps:.1f} rps  "
        f"p50 {result.percentile_ms(50):.2f} ms  p95 {result.percentile_ms(95):.2f} ms  "
        f"p99 {result.percentile_ms(99):.2f} ms  errors {result.error_pct:.2f}% "
        f"(non-2xx {result.non_2xx}, timeouts {result.timeouts}, "
        f"connection {result.connection_errors}); generator CPU {result.client_cpu_pct:.0f}%, "
        f"its loop lag p99 {result.generator_lag_ms(99):.2f} ms"
    )


if __name__ == "__main__":
    main()
