"""Gateway overhead: the same chat completions sent straight to a mock upstream, through
RelayCore, and through Portkey's open-source gateway, at fixed rates.

One mock OpenAI upstream (`mock_openai.py`) on loopback; three targets in front of it, all
answering the same non-streaming `POST /v1/chat/completions`:

- **direct**: the mock itself;
- **relaycore**: `auterity serve relaycore` as an operator runs it (PostgreSQL + Redis by
  default, `--relay-db sqlite` for the embedded default), a real API key made through the
  identity API (signup, then `POST /api/api-keys`), the model in an operator catalog file
  whose provider's base URL is the mock;
- **portkey**: `@portkey-ai/gateway` (npm, installed under `benchmarks/.portkey`), told the
  upstream by its `x-portkey-provider` / `x-portkey-custom-host` headers.

The load is `loadgen` (open loop: requests leave on schedule whatever the answers, latency
runs from the scheduled instant) on one core; the mock and the gateways on the other. At each
rate the targets take turns (in rotating order) so neighbours' noise hits them alike.
Overhead is a target's percentile minus direct's at the same rate. `--profile FILE` runs
py-spy on RelayCore during its runs at the highest rate and prints its hottest frames.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvloop
from api_baseline import cpu_seconds, machine_busy_seconds, pick_cores, settle
from gateways import (
    NICE,
    RelayConfig,
    Target,
    ensure_portkey,
    mock_upstream,
    portkey_gateway,
    postgres_unavailable,
    relay_server,
)
from loadgen import LoadResult, pin_to_core, run_load
from rich.console import Console
from rich.table import Table

GOAL_RATE, GOAL_P50_MS, GOAL_P99_MS = 1000, 1.0, 3.0
console = Console(width=None if sys.stdout.isatty() else 200)


@dataclass
class Row:
    target: str
    rate: int
    result: LoadResult
    cpu_ms: float | None  # the target's own CPU per request sent (the mock's apart)
    mock_cpu_ms: float | None
    other_cores: float | None
    profiled: bool = False


def measure(target: Target, rate: int, args: argparse.Namespace, mock_session: int) -> Row:
    own = target.process.pid if target.process is not None and target.name != "direct" else None
    before = cpu_seconds(own) if own else None
    mock_before, busy_before = cpu_seconds(mock_session), machine_busy_seconds()
    started = time.perf_counter()
    result = uvloop.run(
        run_load(
            target.url,
            rate,
            args.duration,
            connections=args.connections,
            request_timeout=args.timeout,
            method="POST",
            body=target.body,
            headers={"Content-Type": "application/json", **target.headers},
        )
    )
    wall = time.perf_counter() - started
    after = cpu_seconds(own) if own else None
    mock_after, busy_after = cpu_seconds(mock_session), machine_busy_seconds()

    def per_request(a: float | None, b: float | None) -> float | None:
        return (
            (b - a) * 1000 / result.sent
            if a is not None and b is not None and result.sent
            else None
        )

    own_s = after - before if after is not None and before is not None else 0.0
    mock_s = mock_after - mock_before if mock_after is not None and mock_before is not None else 0
    other = None
    if busy_before is not None and busy_after is not None:
        other = max(0.0, busy_after - busy_before - own_s - mock_s - result.client_cpu_s) / wall
    if own:
        settle(own)
    return Row(
        target.name,
        rate,
        result,
        per_request(before, after),
        per_request(mock_before, mock_after),
        other,
    )


@contextlib.contextmanager
def profiling(pid: int, output: Path, core: int | None) -> Iterator[None]:
    """py-spy on `pid` (non-blocking: it does not pause the server) while the block runs."""
    command = ["py-spy", "record", "--pid", str(pid), "--nonblocking", "--format", "raw"]
    command += ["--rate", "200", "--output", str(output)]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    if core is not None:
        os.sched_setaffinity(process.pid, {core})
    try:
        yield
    finally:
        process.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        _, errors = process.communicate(timeout=60)
        if process.returncode not in (0, -signal.SIGINT) and not output.exists():
            console.print(f"[red]py-spy failed: {errors.decode(errors='replace')[-500:]}[/red]")


def hottest(raw: Path, limit: int = 25) -> list[tuple[float, float, str]]:
    """(self %, total %, frame) of the frames in py-spy's raw (collapsed) stacks."""
    own: dict[str, int] = {}
    total: dict[str, int] = {}
    samples = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        samples += count
        own[frames[-1]] = own.get(frames[-1], 0) + count
        for frame in set(frames):
            total[frame] = total.get(frame, 0) + count
    ranked = sorted(own, key=lambda f: own[f], reverse=True)[:limit]
    return [(100 * own[f] / samples, 100 * total[f] / samples, f) for f in ranked]


def drive(
    targets: list[Target], args: argparse.Namespace, mock_session: int, core: int | None
) -> list[Row]:
    rows: list[Row] = []
    for target in targets:  # warm-up: imports, caches, pooled connections on every hop
        uvloop.run(
            run_load(
                target.url,
                200,
                args.warmup,
                method="POST",
                body=target.body,
                headers={"Content-Type": "application/json", **target.headers},
            )
        )
    top = max(args.rates)
    for turn, rate in enumerate(args.rates):
        shift = turn % len(targets)
        for target in targets[shift:] + targets[:shift]:
            if args.profile and target.name == "relaycore" and rate == top and target.process:
                with profiling(target.process.pid, args.profile, core):
                    row = measure(target, rate, args, mock_session)
                row.profiled = True
            else:
                row = measure(target, rate, args, mock_session)
            rows.append(row)
            console.print(
                f"  {target.name:10} {rate:5} rps: p50 {row.result.percentile_ms(50):.2f} ms, "
                f"p99 {row.result.percentile_ms(99):.2f} ms, errors {row.result.error_pct:.1f} %"
            )
    return rows


def overhead(row: Row, direct: Row | None, pct: float) -> float | None:
    if direct is None or row.target == "direct":
        return None
    return row.result.percentile_ms(pct) - direct.result.percentile_ms(pct)


def fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def table(rows: list[Row], order: list[str]) -> Table:
    out = Table(title="Gateway overhead: non-streaming chat completions, open-loop fixed rate")
    out.add_column("target", no_wrap=True)
    out.add_column("rate", justify="right")
    names = ["achieved rps", "p50 ms", "p90 ms", "p99 ms", "overhead p50", "overhead p90"]
    names += ["overhead p99", "error %", "gateway CPU ms/req", "other load (cores)"]
    for name in names:
        out.add_column(name, justify="right")
    direct = {r.rate: r for r in rows if r.target == "direct"}
    ordered = sorted(rows, key=lambda r: (r.rate, order.index(r.target)))
    for index, row in enumerate(ordered):
        r = row.result
        cells = [row.target + (" (py-spy)" if row.profiled else ""), str(row.rate)]
        cells += [f"{r.achieved_rps:.0f}"]
        cells += [f"{r.percentile_ms(p):.2f}" for p in (50, 90, 99)]
        cells += [fmt(overhead(row, direct.get(row.rate), p)) for p in (50, 90, 99)]
        cells += [f"{r.error_pct:.2f}", fmt(row.cpu_ms, 3), fmt(row.other_cores)]
        last_of_rate = index + 1 == len(ordered) or ordered[index + 1].rate != row.rate
        out.add_row(*cells, end_section=last_of_rate)
    return out


def summary(rows: list[Row]) -> list[str]:
    lines = []
    direct = {r.rate: r for r in rows if r.target == "direct"}
    by = {(r.target, r.rate): r for r in rows}
    relay = by.get(("relaycore", GOAL_RATE))
    if relay is not None and GOAL_RATE in direct and not relay.profiled:
        p50, p99 = overhead(relay, direct[GOAL_RATE], 50), overhead(relay, direct[GOAL_RATE], 99)
        assert p50 is not None and p99 is not None
        met = p50 <= GOAL_P50_MS and p99 <= GOAL_P99_MS and relay.result.errors == 0
        lines.append(
            f"Goal at {GOAL_RATE} rps, RelayCore overhead p50 <= {GOAL_P50_MS:g} ms and p99 <= "
            f"{GOAL_P99_MS:g} ms: {'[green]met' if met else '[red]missed'}[/] "
            f"(p50 {p50:.2f} ms, p99 {p99:.2f} ms, errors {relay.result.error_pct:.2f} %)"
        )
    verdicts = []
    for rate in sorted(direct):
        mine, theirs = by.get(("relaycore", rate)), by.get(("portkey", rate))
        if mine is None or theirs is None:
            continue
        below = all(
            (overhead(mine, direct[rate], p) or 0) < (overhead(theirs, direct[rate], p) or 0)
            for p in (50, 90, 99)
        )
        verdicts.append(f"{rate} rps {'[green]yes' if below else '[red]no'}[/]")
    if verdicts:
        lines.append("RelayCore's overhead below Portkey's (p50, p90, p99): " + ", ".join(verdicts))
    mock = [r.mock_cpu_ms for r in rows if r.target == "direct" and r.mock_cpu_ms]
    if mock:
        cost = min(mock)
        lines.append(
            f"Mock upstream: {cost:.3f} ms CPU per request at best, so about "
            f"{1000 / cost:,.0f} rps on one core"
        )
    peak = max(r.result.client_cpu_pct for r in rows)
    lag = max(r.result.generator_lag_ms(99) for r in rows)
    warning = " [red](saturated: figures show the generator's limit)[/]" if peak > 85 else ""
    lines.append(
        f"Load generator: CPU peak {peak:.0f} % of its core{warning}; loop lag p99 max {lag:.2f} ms"
    )
    return lines


def as_json(rows: list[Row], meta: dict[str, Any]) -> dict[str, Any]:
    direct = {r.rate: r for r in rows if r.target == "direct"}
    out = []
    for row in rows:
        r = row.result
        out.append(
            {
                "target": row.target,
                "rate": row.rate,
                "profiled": row.profiled,
                "scheduled": r.scheduled,
                "achieved_rps": round(r.achieved_rps, 1),
                "latency_ms": {f"p{p}": round(r.percentile_ms(p), 3) for p in (50, 90, 99)},
                "overhead_ms": {
                    f"p{p}": None
                    if (v := overhead(row, direct.get(row.rate), p)) is None
                    else round(v, 3)
                    for p in (50, 90, 99)
                },
                "error_pct": round(r.error_pct, 3),
                "statuses": {str(k): v for k, v in sorted(r.statuses.items())},
                "timeouts": r.timeouts,
                "connection_errors": r.connection_errors,
                "gateway_cpu_ms_per_request": row.cpu_ms,
                "mock_cpu_ms_per_request": row.mock_cpu_ms,
                "other_load_cores": row.other_cores,
                "generator_cpu_pct": round(r.client_cpu_pct, 1),
                "generator_lag_p99_ms": round(r.generator_lag_ms(99), 3),
            }
        )
    return {**meta, "rows": out}


def machine_snapshot() -> list[str]:
    """The busiest processes right now: what else shares the machine with the benchmark."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        listing = subprocess.run(
            ["ps", "-eo", "pcpu,etimes,args", "--sort=-pcpu", "--no-headers"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.splitlines()
        return [line.strip()[:140] for line in listing[:8]]
    return []


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per load point")
    parser.add_argument("--quick", action="store_true", help="3 s per load point, 1 s warm-up")
    parser.add_argument(
        "--rates",
        type=lambda text: [int(x) for x in text.split(",")],
        default=[100, 500, 1000],
        help="comma-separated requests/s (default 100,500,1000)",
    )
    parser.add_argument(
        "--targets", default="direct,relaycore,portkey", help="comma-separated subset"
    )
    parser.add_argument("--relay-db", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument(
        "--relay-src", type=Path, help="serve RelayCore from this checkout (its src/ on PYTHONPATH)"
    )
    parser.add_argument(
        "--relay-python", default=sys.executable, help="interpreter that runs RelayCore"
    )
    parser.add_argument("--access-log", choices=("on", "off"), default="on")
    parser.add_argument("--connections", type=int, default=64, help="keep-alive connections")
    parser.add_argument("--timeout", type=float, default=2.0, help="request timeout, seconds")
    parser.add_argument("--profile", type=Path, help="py-spy raw stacks of RelayCore to this file")
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="niceness change for the generator and every server (e.g. -10 on a shared "
        "machine, needs root); PostgreSQL and Redis keep theirs",
    )
    parser.add_argument("--keep", action="store_true", help="keep the servers' logs and data")
    parser.add_argument("--json", type=Path, default=Path("var/bench/relay_overhead.json"))
    args = parser.parse_args(argv)
    args.warmup = 2.0
    if args.quick:
        args.duration, args.warmup = 3.0, 1.0
    args.targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = set(args.targets) - {"direct", "relaycore", "portkey"}
    if unknown or "direct" not in args.targets:
        parser.error("--targets: choose from direct,relaycore,portkey; direct is required")
    if args.relay_src and not (args.relay_src / "src" / "auterity").is_dir():
        parser.error(f"{args.relay_src} has no src/auterity")
    if args.profile and shutil.which("py-spy") is None:
        parser.error("--profile needs py-spy on PATH (pip install py-spy)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.nice:
        os.nice(args.nice)
        NICE["value"] = args.nice
        console.print(f"Generator and servers run at niceness {os.nice(0)}.")
    generator_core, server_core = pick_cores()
    if generator_core is not None and pin_to_core(generator_core):
        console.print(
            f"Load generator on core {generator_core}; mock and gateways on core {server_core}."
        )
    else:
        console.print("[yellow]Fewer than two cores: generator and servers share them.[/yellow]")
    meta: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "duration_s": args.duration,
        "rates": args.rates,
        "connections": args.connections,
        "nice": args.nice,
        "load_average_before": os.getloadavg(),
        "busiest_processes_before": machine_snapshot(),
    }
    root = Path(tempfile.mkdtemp(prefix="auterity-relaybench-"))
    try:
        with contextlib.ExitStack() as stack:
            direct = stack.enter_context(mock_upstream(root, server_core))
            upstream = direct.url.removesuffix("/chat/completions")
            targets = [direct]
            if "relaycore" in args.targets and args.relay_db == "postgres":
                reason = postgres_unavailable()
                if reason:
                    console.print(f"[yellow]{reason}: RelayCore runs on SQLite.[/yellow]")
                    args.relay_db = "sqlite"
            if "relaycore" in args.targets:
                config = RelayConfig(
                    upstream,
                    args.relay_db,
                    args.relay_python,
                    args.relay_src,
                    args.access_log == "on",
                )
                targets.append(stack.enter_context(relay_server(config, root, server_core)).target)
            if "portkey" in args.targets:
                entry = ensure_portkey()
                if entry is None:
                    console.print("[yellow]node/npm not found: Portkey is skipped.[/yellow]")
                else:
                    targets.append(
                        stack.enter_context(portkey_gateway(entry, upstream, root, server_core))
                    )
            for target in targets:
                meta[target.name] = target.notes
                for note in target.notes:
                    console.print(f"{target.name}: {note}")
            assert direct.process is not None
            rows = drive(targets, args, direct.process.pid, generator_core)
    finally:
        if args.keep:
            console.print(f"Servers' logs and data kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    order = [t for t in ("direct", "relaycore", "portkey") if t in args.targets]
    console.print(table(rows, order))
    for line in summary(rows):
        console.print(line)
    meta["load_average_after"] = os.getloadavg()
    meta["busiest_processes_after"] = machine_snapshot()
    console.print(
        f"Machine: {os.cpu_count()} cores; load average {meta['load_average_before'][0]:.1f} "
        f"before, {meta['load_average_after'][0]:.1f} after. Busiest processes at the start:"
    )
    for line in meta["busiest_processes_before"][:5]:
        console.print(f"  {line}")
    if args.profile and args.profile.exists():
        console.print(
            f"py-spy on RelayCore at {max(args.rates)} rps ({args.profile}): "
            "self % / total % of samples"
        )
        for own, total, frame in hottest(args.profile):
            console.print(f"  {own:5.1f} {total:5.1f}  {frame}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(as_json(rows, meta), indent=2) + "\n")
    console.print(f"Results in {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
