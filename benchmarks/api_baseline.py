"""API baseline: start-up time of `auterity up`, and latency of the health endpoints at fixed rates.

Start-up runs from process spawn to the first `/health/ready` 200. Load: `/health/live` (no
database) and `/health/ready` (SQLite) at fixed rates from `loadgen` (open loop, latency from
the scheduled send), generator and server pinned to different cores. `--servers
uvicorn,granian` serves the same app and database through both, `--access-log both` runs each
with the access log on and off, and `--baseline-src DIR` adds the same servers run from another
checkout (before/after figures). All servers run at once and take turns at each load point, so
a noisy neighbour hits them alike; each row also shows the server's CPU per request and how
much CPU other processes on the machine used meanwhile.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import importlib.util
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import uvloop
from loadgen import LoadResult, pin_to_core, run_load
from rich.console import Console
from rich.table import Table

ENDPOINTS = ("/health/live", "/health/ready")
SERVERS = ("uvicorn", "granian")
GOAL_P95_MS, GOAL_RATE, GOAL_STARTUP_S = 20.0, 1000, 3.0
# Wide enough for the table when the output is a file or a pipe (rich would wrap it at 80).
console = Console(width=None if sys.stdout.isatty() else 160)


@dataclass(frozen=True)
class Variant:
    server: str
    access_log: bool = True
    source: Path | None = None  # another checkout's root; None: the installed package

    @property
    def label(self) -> str:
        code = f", code {self.source}" if self.source else ""
        return f"{self.server}, access log {'on' if self.access_log else 'off'}{code}"


@dataclass
class Server:
    variant: Variant
    port: int
    process: subprocess.Popen[bytes]
    startup_s: float


@dataclass
class Row:
    variant: Variant
    endpoint: str
    result: LoadResult
    server_cpu_ms: float | None  # server CPU per request sent
    other_cores: float | None  # CPU other processes used during the run, in cores


def pick_cores() -> tuple[int | None, int | None]:
    """(generator core, server core): the first two this process may use, if it has two."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    return (cores[0], cores[1]) if len(cores) >= 2 else (None, None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_command(server: str, port: int) -> list[str]:
    if server == "uvicorn":  # what users run: migrate, then uvicorn with uvloop + httptools
        return [sys.executable, "-m", "auterity.cli.main", "up", "--port", str(port)]
    return [
        *(sys.executable, "-m", "granian", "--interface", "asgi", "--factory"),
        *("--loop", "uvloop", "--http", "1", "--workers", "1", "--no-access-log"),
        *("--host", "127.0.0.1", "--port", str(port), "auterity.api.asgi:build"),
    ]


def server_env(data_dir: Path, variant: Variant) -> dict[str, str]:
    env = {
        **os.environ,
        "AUTERITY_DATA_DIR": str(data_dir),
        "AUTERITY_ACCESS_LOG": str(variant.access_log).lower(),
    }
    env.pop("AUTERITY_DATABASE_URL", None)
    if variant.source is not None:
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(variant.source / "src"), env.get("PYTHONPATH")])
        )
    return env


def ready_status(port: int) -> int | None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        conn.request("GET", "/health/ready")
        return conn.getresponse().status
    except OSError:
        return None
    finally:
        conn.close()


def cpu_seconds(session: int) -> float | None:
    """CPU time used so far by the live processes of `session` (Linux /proc), else None."""
    total = 0
    try:
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    fields = (entry / "stat").read_text().rpartition(")")[2].split()
                    if int(fields[3]) == session:
                        total += int(fields[11]) + int(fields[12])
    except OSError:
        return None
    return total / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float | None:
    """CPU time every core has spent busy since boot (Linux /proc/stat), else None."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return None
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """End a child started with `start_new_session` and everything it started."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextlib.contextmanager
def serve(variant: Variant, data_dir: Path, core: int | None) -> Iterator[Server]:
    """Run a server on a free port, pinned to `core`, and wait until it is ready."""
    port = free_port()
    with (data_dir / f"{variant.server}.log").open("ab") as log:
        started = time.perf_counter()
        process = subprocess.Popen(
            server_command(variant.server, port),
            cwd=data_dir,
            env=server_env(data_dir, variant),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        if core is not None:
            os.sched_setaffinity(process.pid, {core})  # before the interpreter starts threads
        while ready_status(port) != 200:
            if process.poll() is not None or time.perf_counter() - started > 60:
                raise RuntimeError(f"{variant.label} did not become ready; see {log.name}")
            time.sleep(0.01)
        yield Server(variant, port, process, time.perf_counter() - started)
    finally:
        stop_group(process)


def migrate(data_dir: Path) -> None:
    command = [sys.executable, "-m", "auterity.cli.main", "db", "upgrade"]
    env = server_env(data_dir, Variant("uvicorn"))
    subprocess.run(command, cwd=data_dir, env=env, check=True, capture_output=True)


def measure_startup(variant: Variant, root: Path, runs: int, fresh: bool, core: int | None) -> str:
    times = []
    for run in range(runs):
        data_dir = root / f"startup-{variant.server}-{run}" if fresh else root / "shared"
        data_dir.mkdir(exist_ok=True)
        with serve(variant, data_dir, core) as server:
            times.append(server.startup_s)
    median = statistics.median(times)
    return (
        f"{variant.server:8} {'fresh data dir' if fresh else 'migrated DB':15} "
        f"median {median:.2f} s (runs {', '.join(f'{t:.2f}' for t in times)}; goal < "
        f"{GOAL_STARTUP_S:.0f} s: {'met' if median < GOAL_STARTUP_S else 'missed'})"
    )


def settle(session: int, limit_s: float = 30.0) -> None:
    """Wait until a server is idle: after an overloaded run it is still busy with dropped work."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        before = cpu_seconds(session)
        time.sleep(0.5)
        after = cpu_seconds(session)
        if before is None or after is None or after - before < 0.05:
            return


def measure(server: Server, endpoint: str, rate: int, args: argparse.Namespace) -> Row:
    url = f"http://127.0.0.1:{server.port}{endpoint}"
    session = server.process.pid
    cpu_before, busy_before = cpu_seconds(session), machine_busy_seconds()
    started = time.perf_counter()
    result = uvloop.run(
        run_load(
            url,
            rate,
            args.duration,
            connections=args.connections,
            request_timeout=args.timeout,
        )
    )
    wall = time.perf_counter() - started
    cpu_after, busy_after = cpu_seconds(session), machine_busy_seconds()
    server_cpu = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
    other = None
    if server_cpu is not None and busy_before is not None and busy_after is not None:
        other = max(0.0, busy_after - busy_before - server_cpu - result.client_cpu_s) / wall
    # Per request sent: a request the client gave up on still cost the server its work.
    cpu_ms = server_cpu * 1000 / result.sent if server_cpu is not None and result.sent else None
    settle(session)
    return Row(server.variant, endpoint, result, cpu_ms, other)


def drive(
    variants: list[Variant], data_dir: Path, args: argparse.Namespace, core: int | None
) -> list[Row]:
    """Every load point on every server, the servers taking turns (in rotating order)."""
    rows = []
    with contextlib.ExitStack() as stack:
        servers = [stack.enter_context(serve(v, data_dir, core)) for v in variants]
        for endpoint in ENDPOINTS:
            for server in servers:  # warm-up: imports, caches, pooled connections
                uvloop.run(run_load(f"http://127.0.0.1:{server.port}{endpoint}", 200, 2.0))
            for turn, rate in enumerate(args.rates):
                shift = turn % len(servers)
                for server in servers[shift:] + servers[:shift]:
                    rows.append(measure(server, endpoint, rate, args))
    return rows


def table(rows: list[Row], variants: list[Variant]) -> Table:
    out = Table(title="API baseline (SQLite, 1 worker process, open-loop fixed rate)")
    shown = {
        "server": len({v.server for v in variants}) > 1,
        "access log": len({v.access_log for v in variants}) > 1,
        "code": len({v.source for v in variants}) > 1,
    }
    out.add_column("endpoint", no_wrap=True)
    out.add_column("target rps", justify="right")
    for name, show in shown.items():
        if show:
            out.add_column(name)
    for name in ("achieved rps", "p50 ms", "p95 ms", "p99 ms", "error %"):
        out.add_column(name, justify="right")
    out.add_column("server CPU ms/req", justify="right")
    out.add_column("other load (cores)", justify="right")
    out.add_column("generator lag p99 ms", justify="right")
    order = {v: i for i, v in enumerate(variants)}
    ordered = sorted(rows, key=lambda r: (r.endpoint, r.result.target_rps, order[r.variant]))
    for index, row in enumerate(ordered):
        r, v = row.result, row.variant
        following = ordered[index + 1] if index + 1 < len(ordered) else None
        p95 = r.percentile_ms(95)
        cells = [row.endpoint, f"{r.target_rps:.0f}"]
        cells += [v.server] if shown["server"] else []
        cells += ["on" if v.access_log else "off"] if shown["access log"] else []
        cells += ["base" if v.source else "this"] if shown["code"] else []
        cells += [
            f"{r.achieved_rps:.0f}",
            f"{r.percentile_ms(50):.2f}",
            f"[{'green' if p95 < GOAL_P95_MS else 'red'}]{p95:.2f}[/]",
            f"{r.percentile_ms(99):.2f}",
            f"{r.error_pct:.2f}",
            "-" if row.server_cpu_ms is None else f"{row.server_cpu_ms:.3f}",
            "-" if row.other_cores is None else f"{row.other_cores:.2f}",
            f"{r.generator_lag_ms(99):.2f}",
        ]
        new_group = following is not None and (following.endpoint, following.result.target_rps) != (
            row.endpoint,
            r.target_rps,
        )
        out.add_row(*cells, end_section=new_group and len(variants) > 1)
    return out


def summary(rows: list[Row], variants: list[Variant]) -> list[str]:
    lines = []
    for variant in variants:
        for row in rows:
            if (row.variant, row.endpoint, row.result.target_rps) == (
                variant,
                "/health/ready",
                GOAL_RATE,
            ):
                p95, errors = row.result.percentile_ms(95), row.result.error_pct
                met = p95 < GOAL_P95_MS and errors == 0
                lines.append(
                    f"Goal p95 < {GOAL_P95_MS:.0f} ms at {GOAL_RATE} rps on /health/ready "
                    f"({variant.label}): {'[green]met' if met else '[red]missed'}[/] "
                    f"(p95 {p95:.2f} ms, errors {errors:.2f} %)"
                )
    for endpoint in ENDPOINTS:
        costs = []
        for variant in variants:
            cpu = [
                r.server_cpu_ms
                for r in rows
                if r.variant == variant
                and r.endpoint == endpoint
                and r.result.errors == 0
                and r.server_cpu_ms is not None
            ]
            if cpu:
                costs.append(f"{variant.label}: {statistics.median(cpu):.3f}")
        if costs:
            lines.append(
                f"Median server CPU ms/request on {endpoint} (runs without errors): "
                + "; ".join(costs)
            )
    peak = max(r.result.client_cpu_pct for r in rows)
    warning = " [red](saturated: the figures are the generator's limit)[/]" if peak > 85 else ""
    lines.append(f"Load generator CPU peaked at {peak:.0f} % of its core{warning}")
    return lines


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per load point")
    parser.add_argument(
        "--rates",
        type=lambda text: [int(x) for x in text.split(",")],
        default=[100, 500, 1000],
        help="comma-separated requests/s (default 100,500,1000)",
    )
    parser.add_argument("--servers", default="uvicorn", help="comma-separated: uvicorn,granian")
    parser.add_argument("--access-log", choices=("on", "off", "both"), default="on")
    parser.add_argument(
        "--baseline-src",
        type=Path,
        help="also serve the code of this checkout (e.g. `git worktree add /tmp/base main`)",
    )
    parser.add_argument("--startup-runs", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32, help="keep-alive connections")
    parser.add_argument("--timeout", type=float, default=2.0, help="request timeout, seconds")
    args = parser.parse_args(argv)
    args.servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    unknown = set(args.servers) - set(SERVERS)
    if unknown:
        parser.error(f"unknown server(s) {sorted(unknown)}; choose from {', '.join(SERVERS)}")
    if args.baseline_src and not (args.baseline_src / "src" / "auterity").is_dir():
        parser.error(f"{args.baseline_src} has no src/auterity")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if "granian" in args.servers and importlib.util.find_spec("granian") is None:
        console.print(
            "[yellow]granian is not installed, so it is skipped; "
            "`.venv/bin/pip install granian` to compare it with uvicorn.[/yellow]"
        )
        args.servers.remove("granian")
    if not args.servers:
        return 1
    generator_core, server_core = pick_cores()
    if generator_core is not None and pin_to_core(generator_core):
        console.print(f"Load generator on core {generator_core}, servers on core {server_core}.")
    else:
        console.print("[yellow]Fewer than two cores: generator and server share them.[/yellow]")
    logs = {"on": [True], "off": [False], "both": [True, False]}[args.access_log]
    sources = [None, args.baseline_src.resolve()] if args.baseline_src else [None]
    variants = [Variant(s, log, src) for src in sources for s in args.servers for log in logs]
    load_before = os.getloadavg()
    root = Path(tempfile.mkdtemp(prefix="auterity-bench-"))
    try:
        shared = root / "shared"
        shared.mkdir()
        migrate(shared)
        startup = [measure_startup(Variant("uvicorn"), root, args.startup_runs, True, server_core)]
        startup += [  # every server on the database `auterity db upgrade` migrated
            measure_startup(Variant(server), root, args.startup_runs, False, server_core)
            for server in args.servers
        ]
        rows = drive(variants, shared, args, server_core)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    console.print(table(rows, variants))
    console.print("Start-up, spawn to first /health/ready 200 (server pinned to one core):")
    for line in startup:
        console.print(f"  {line}")
    for line in summary(rows, variants):
        console.print(line)
    load_after = os.getloadavg()
    console.print(
        f"Machine: {os.cpu_count()} cores; load average {load_before[0]:.1f} before, "
        f"{load_after[0]:.1f} after."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
