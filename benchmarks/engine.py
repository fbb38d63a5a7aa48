"""Workflow engine benchmark: latency, throughput and fan-out of the local executor.

Cases (each on a fresh SQLite file, and on PostgreSQL in a schema of its own):
  * 40 sequential steps of fibo(10) on one worker: the harness Windmill publishes
    (Hatchet 1.22 s, Temporal 2.97 s, Prefect 4.87 s); Prefect 3 runs the same 40 tasks
    here too, in its own virtualenv and ephemeral local mode, for a ratio measured on this box.
  * a 3-step workflow: runs per second, and the engine's own time per step;
  * 1,000-step fan-out at concurrency 50, as one for_each and as 1,000 independent steps:
    total time and peak Python memory;
  * user code (`--only code`): Windmill's harness of 40 sequential fibo(10) steps and 10
    sequential fibo(33) steps, three ways: sandboxed `code.python` (warm pool of bwrap
    zygotes), SDK `@step`s in-process (`python.step`), and Prefect 3 with the same function.
  * the 3-step workflow again with the Celery executor: each step a Celery task run by
    `auterity worker` subprocesses (Redis broker at AUTERITY_BENCH_REDIS_URL).

Runs go through the engine API (service.create_workflow / service.start_run, engine.wake,
engine.wait_for), as the HTTP routes do, minus HTTP. Usage:
    .venv/bin/python benchmarks/engine.py [--quick] [--only CASE ...] [--no-postgres] [--no-prefect]
        [--celery-workers N] [--celery-concurrency N]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import code_fibo
from code_fibo import FIBO_CODE
from pydantic import BaseModel, Field
from rich.console import Console
from rich.table import Table

from auterity.automatrix import python_modules, service
from auterity.automatrix.actions.base import Action, ActionContext, ActionInput
from auterity.automatrix.actions.registry import ActionRegistry
from auterity.automatrix.engine import Engine
from auterity.automatrix.executors.base import Executor
from auterity.automatrix.models import Workflow
from auterity.core import migrate
from auterity.core.database import Database
from auterity.core.settings import Settings, get_settings, load_settings
from auterity.core.tenancy import bind_tenant
from auterity.events import EventBus, PlatformEvent
from auterity.identity.accounts import create_tenant_with_owner

POSTGRES_URL = os.environ.get(
    "AUTERITY_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
PREFECT_VENV = Path(
    os.environ.get(
        "AUTERITY_BENCH_PREFECT_VENV", str(Path(tempfile.gettempdir()) / "auterity-bench-prefect")
    )
)
REDIS_URL = os.environ.get("AUTERITY_BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
PREFECT_SCRIPT = Path(__file__).with_name("prefect_sequential.py")
CODE_FIBO_SOURCE = Path(code_fibo.__file__).read_text()
WINDMILL_PUBLISHED = {
    "Hatchet": 1.22,
    "Temporal": 2.97,
    "Prefect": 4.87,
    "Windmill": 4.38,
    "Windmill, dedicated worker": 2.09,
}
CASES = ("sequential", "three_step", "fanout", "code", "three_step_celery")


@dataclass
class Options:
    platform_events: bool = True  # --no-events: the engine without the event outbox


OPTIONS = Options()
# A code step's default limits (10 s of CPU) would stop fibo(33) on a slow, shared machine.
CODE_LIMITS = {"code_cpu_seconds": 600, "code_wall_seconds": 1200.0}
console = Console()


# -- the benchmark-only action -----------------------------------------------------------------


def fibo(n: int) -> int:
    return n if n < 2 else fibo(n - 1) + fibo(n - 2)


class FiboInput(ActionInput):
    n: int = Field(ge=0, le=30)


class FiboOutput(BaseModel):
    value: int


class Fibo(Action[FiboInput, FiboOutput]):
    """The lightweight step of Windmill's harness: compute fibo(n) in the worker."""

    name = "bench.fibo"
    Input = FiboInput
    Output = FiboOutput

    async def run(self, ctx: ActionContext, params: FiboInput) -> FiboOutput:
        return FiboOutput(value=fibo(params.n))


def registry() -> ActionRegistry:
    return ActionRegistry.from_entry_points().with_overrides({Fibo.name: Fibo})


# -- workflow specs ------------------------------------------------------------------------------


def sequential_spec(steps: int = 40) -> dict[str, Any]:
    return {
        "name": f"sequential-{steps}",
        "steps": [
            {"id": f"s{i}", "uses": "bench.fibo", "with": {"n": 10}}
            | ({"needs": [f"s{i - 1}"]} if i else {})
            for i in range(steps)
        ],
        "outputs": {"last": f"{{{{ steps.s{steps - 1}.output.value }}}}"},
    }


THREE_STEP = {
    "name": "three-step",
    "steps": [
        {"id": "a", "uses": "bench.fibo", "with": {"n": 10}},
        {"id": "b", "uses": "transform", "with": {"value": "{{ steps.a.output.value + 1 }}"}},
        {"id": "c", "uses": "transform", "with": {"value": "{{ steps.b.output.value * 2 }}"}},
    ],
    "outputs": {"result": "{{ steps.c.output.value }}"},
}


def for_each_spec(items: int = 1000, concurrency: int = 50) -> dict[str, Any]:
    return {
        "name": f"for-each-{items}",
        "steps": [
            {
                "id": "each",
                "uses": "bench.fibo",
                "for_each": f"{{{{ range({items}) | list }}}}",
                "concurrency": concurrency,
                "with": {"n": 10},
            }
        ],
    }


def independent_spec(steps: int = 1000, concurrency: int = 50) -> dict[str, Any]:
    return {
        "name": f"independent-{steps}",
        "concurrency": concurrency,
        "steps": [{"id": f"s{i}", "uses": "bench.fibo", "with": {"n": 10}} for i in range(steps)],
    }


# -- harness -------------------------------------------------------------------------------------


class Harness:
    """A migrated database, a tenant, and a started engine with the benchmark action."""

    def __init__(self, db: Database, engine: Engine, tenant_id: uuid.UUID) -> None:
        self.db, self.engine, self.tenant_id = db, engine, tenant_id

    async def workflow(self, document: dict[str, Any]) -> Workflow:
        spec = service.checked_spec(document, self.engine.registry)
        async with self.db.session() as session:
            bind_tenant(session, self.tenant_id)
            workflow, _ = await service.create_workflow(session, spec, document, None, None)
        return workflow

    async def start(self, workflow: Workflow, count: int = 1) -> list[uuid.UUID]:
        async with self.db.session() as session:
            bind_tenant(session, self.tenant_id)
            runs = [
                (
                    await service.start_run(
                        session, workflow, {}, version=None, idempotency_key=None, created_by=None
                    )
                )[0]
                for _ in range(count)
            ]
        for run in runs:
            self.engine.wake(run.id)
        return [run.id for run in runs]

    async def run(self, workflow: Workflow, timeout: float = 300) -> float:
        """Seconds from starting one run to seeing it finished."""
        started = time.perf_counter()
        (run_id,) = await self.start(workflow)
        status = await self.engine.wait_for(run_id, timeout)
        elapsed = time.perf_counter() - started
        if status != "succeeded":
            raise RuntimeError(f"run {run_id} ended {status}")
        return elapsed

    async def run_many(
        self, workflow: Workflow, count: int, timeout: float = 600
    ) -> tuple[float, float]:
        """(seconds from creating `count` runs to all finished, seconds of that after the
        transaction creating them committed: the engine's share)."""
        started = time.perf_counter()
        run_ids = await self.start(workflow, count)
        queued = time.perf_counter()
        statuses = await asyncio.gather(*(self.engine.wait_for(r, timeout) for r in run_ids))
        finished = time.perf_counter()
        if any(s != "succeeded" for s in statuses):
            raise RuntimeError(f"{sum(s != 'succeeded' for s in statuses)} run(s) did not succeed")
        return finished - started, finished - queued


@dataclass
class CeleryWorkers:
    count: int = 2
    concurrency: int = 8


CELERY = CeleryWorkers()  # set from the command line


@asynccontextmanager
async def harness(
    backend: str, workdir: Path, celery: CeleryWorkers | None = None
) -> AsyncIterator[Harness]:
    schema = None
    values: dict[str, Any] = {"data_dir": workdir / "var", "log_level": "warning", **CODE_LIMITS}
    if backend == "sqlite":
        values["database_url"] = (
            f"sqlite+aiosqlite:///{workdir / f'bench-{uuid.uuid4().hex[:8]}.db'}"
        )
    else:
        schema = f"bench_{uuid.uuid4().hex[:12]}"
        await pg_execute(f'CREATE SCHEMA "{schema}"')
        values |= {"database_url": POSTGRES_URL, "database_schema": schema}
    if celery is not None:
        values |= {
            "executor": "celery",
            "redis_url": REDIS_URL,
            "celery_queue": f"bench-{uuid.uuid4().hex[:8]}",
        }
    settings = load_settings(**values, _env_file=None)
    db = Database(settings)
    engine: Engine | None = None
    bus: EventBus | None = None
    workers: list[subprocess.Popen[bytes]] = []
    try:
        await migrate.upgrade(db)
        async with db.session() as session:
            tenant, _ = await create_tenant_with_owner(
                session,
                email=f"bench-{uuid.uuid4().hex[:8]}@example.com",
                password=f"Bench-{uuid.uuid4().hex}!",
                tenant_name="Benchmark",
            )
        executor = None
        if celery is not None:
            settings.ensure_secret_key()
            workers = [start_worker(settings, celery.concurrency) for _ in range(celery.count)]
            executor = _celery_executor(settings)
        if OPTIONS.platform_events:
            # As served: each run's end is an event in the outbox, delivered to a subscriber.
            bus = EventBus(db)
            bus.subscribe("bench", _discard)
            await bus.start()
        engine = Engine(db, registry(), executor=executor, events=bus)
        await engine.start()
        yield Harness(db, engine, tenant.id)
    finally:
        if engine is not None:
            await engine.stop()
        if bus is not None:
            await bus.stop()
        for worker in workers:
            worker.terminate()
            worker.wait(30)
        await db.dispose()
        if schema is not None:
            await pg_execute(f'DROP SCHEMA "{schema}" CASCADE')


async def _discard(event: PlatformEvent) -> None:
    return None


def _celery_executor(settings: Settings) -> Callable[[str], Executor]:
    from auterity.automatrix.executors.celery import CeleryExecutor

    return lambda owner: CeleryExecutor(settings, owner)


def start_worker(settings: Settings, concurrency: int) -> subprocess.Popen[bytes]:
    """An `auterity worker` with the benchmark's action (this script, in --worker mode)."""
    env = {
        **os.environ,
        "AUTERITY_DATA_DIR": str(settings.data_dir),
        "AUTERITY_DATABASE_URL": settings.database_url,
        "AUTERITY_REDIS_URL": str(settings.redis_url),
        "AUTERITY_CELERY_QUEUE": settings.celery_queue,
        "AUTERITY_LOG_LEVEL": "warning",
    }
    if settings.database_schema:
        env["AUTERITY_DATABASE_SCHEMA"] = settings.database_schema
    return subprocess.Popen(
        [sys.executable, __file__, "--worker", str(concurrency)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def pg_execute(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(POSTGRES_URL.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def postgres_unavailable() -> str | None:
    try:
        await asyncio.wait_for(pg_execute("SELECT 1"), 5)
        return None
    except Exception as exc:
        return f"PostgreSQL at {POSTGRES_URL} did not answer: {exc!r}"


# -- cases ---------------------------------------------------------------------------------------


@dataclass
class Row:
    case: str
    metric: str
    goal: str = ""
    values: dict[str, str] = field(default_factory=dict)  # backend -> shown value
    raw: dict[str, float] = field(default_factory=dict)


@dataclass
class Sizes:
    sequential_runs: int = 5
    three_step_latency_runs: int = 30
    three_step_throughput_runs: int = 1000
    fanout_items: int = 1000
    heavy_runs: int = 1
    celery_runs: int = 300


async def case_sequential(h: Harness, sizes: Sizes) -> dict[str, float]:
    workflow = await h.workflow(sequential_spec(40))
    await h.run(workflow)  # warm-up: imports, jinja compile, connection pool
    times = [await h.run(workflow) for _ in range(sizes.sequential_runs)]
    return {"median": statistics.median(times), "best": min(times)}


async def case_three_step(h: Harness, sizes: Sizes) -> dict[str, float]:
    workflow = await h.workflow(THREE_STEP)
    await h.run(workflow)
    latencies = [await h.run(workflow) for _ in range(sizes.three_step_latency_runs)]
    count = sizes.three_step_throughput_runs
    total, driving = await h.run_many(workflow, count)
    median = statistics.median(latencies)
    return {
        "runs_per_s": count / total,
        "engine_runs_per_s": count / driving,
        "latency": median,
        "per_step_ms": median / 3 * 1000,
        "per_step_loaded_ms": driving / (count * 3) * 1000,
    }


async def _measured(h: Harness, workflow: Workflow) -> tuple[float, float]:
    """(seconds, peak MiB of Python allocations) of one run; timed without tracemalloc."""
    seconds = await h.run(workflow)
    gc.collect()
    tracemalloc.start()
    await h.run(workflow)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return seconds, peak / 2**20


async def case_fanout(h: Harness, sizes: Sizes) -> dict[str, float]:
    items = sizes.fanout_items
    for_each = await h.workflow(for_each_spec(items, 50))
    independent = await h.workflow(independent_spec(items, 50))
    fe_seconds, fe_peak = await _measured(h, for_each)
    ind_seconds, ind_peak = await _measured(h, independent)
    return {
        "for_each_s": fe_seconds,
        "for_each_mib": fe_peak,
        "independent_s": ind_seconds,
        "independent_mib": ind_peak,
    }


def code_spec(steps: int, n: int) -> dict[str, Any]:
    """`steps` sequential sandboxed code steps, each computing fibo(n)."""
    return {
        "name": f"code-{steps}-fibo-{n}",
        "steps": [
            {"id": f"s{i}", "uses": "code.python", "with": {"code": FIBO_CODE, "inputs": {"n": n}}}
            | ({"needs": [f"s{i - 1}"]} if i else {})
            for i in range(steps)
        ],
        "outputs": {"last": f"{{{{ steps.s{steps - 1}.output }}}}"},
    }


async def case_code(h: Harness, sizes: Sizes) -> dict[str, float]:
    """Windmill's two harnesses, sandboxed and in-process (the SDK module deployed first)."""
    source = CODE_FIBO_SOURCE
    async with h.db.session() as session:
        ref = await python_modules.deploy(session, h.tenant_id, "code_fibo", source, "benchmark")
    result: dict[str, float] = {}
    for label, steps, n, sdk_flow, runs in (
        ("light", 40, 10, code_fibo.light, sizes.sequential_runs),
        ("heavy", 10, 33, code_fibo.heavy, sizes.heavy_runs),
    ):
        sandboxed = await h.workflow(code_spec(steps, n))
        in_process = await h.workflow(sdk_flow.compile(ref))
        if label == "light":  # warm-up: zygotes start, the module is imported, caches fill
            await h.run(sandboxed)
            await h.run(in_process)
        result[f"{label}_sandboxed"] = statistics.median(
            [await h.run(sandboxed) for _ in range(runs)]
        )
        result[f"{label}_in_process"] = statistics.median(
            [await h.run(in_process) for _ in range(runs)]
        )
    return result


async def case_three_step_celery(h: Harness, sizes: Sizes) -> dict[str, float]:
    return await case_three_step(
        h, Sizes(three_step_latency_runs=20, three_step_throughput_runs=sizes.celery_runs)
    )


CASE_FUNCS: dict[str, Callable[[Harness, Sizes], Any]] = {
    "sequential": case_sequential,
    "three_step": case_three_step,
    "fanout": case_fanout,
    "code": case_code,
    "three_step_celery": case_three_step_celery,
}
CODE_ROWS = (
    ("light_sandboxed", "40 x fibo(10)", "code.python, sandboxed", "< 1 s"),
    ("light_in_process", "", "SDK @step, in-process", "< 0.4 s"),
    ("heavy_sandboxed", "10 x fibo(33)", "code.python, sandboxed", ""),
    ("heavy_in_process", "", "SDK @step, in-process", ""),
)


def rows_for(case: str, result: dict[str, float], backend: str, rows: dict[str, Row]) -> None:
    def put(key: str, case_name: str, metric: str, goal: str, value: float, shown: str) -> None:
        row = rows.setdefault(key, Row(case_name, metric, goal))
        row.values[backend] = shown
        row.raw[backend] = value

    if case == "sequential":
        put(
            "seq",
            "40 sequential fibo(10) steps",
            "total, median",
            "≤ 0.4 s",
            result["median"],
            f"{result['median']:.3f} s",
        )
        put("seq_best", "", "total, best", "", result["best"], f"{result['best']:.3f} s")
    elif case == "three_step":
        put(
            "runs_s",
            "3-step workflow",
            "runs/s, created and run",
            "",
            result["runs_per_s"],
            f"{result['runs_per_s']:.0f}",
        )
        put(
            "engine_runs_s",
            "",
            "runs/s, engine (runs queued)",
            "≥ 500",
            result["engine_runs_per_s"],
            f"{result['engine_runs_per_s']:.0f}",
        )
        put("lat", "", "latency of one run", "", result["latency"], f"{result['latency']:.4f} s")
        put(
            "per_step",
            "",
            "engine time per step, one run alone",
            "",
            result["per_step_ms"],
            f"{result['per_step_ms']:.2f} ms",
        )
        put(
            "per_step_loaded",
            "",
            "engine time per step, under load",
            "≤ 1 ms",
            result["per_step_loaded_ms"],
            f"{result['per_step_loaded_ms']:.2f} ms",
        )
    elif case == "code":
        for key, case_name, metric, goal in CODE_ROWS:
            put(f"code_{key}", case_name, metric, goal, result[key], f"{result[key]:.3f} s")
    elif case == "three_step_celery":
        put(
            "c_runs_s",
            f"3-step workflow, Celery executor ({CELERY.count} workers x {CELERY.concurrency})",
            "runs/s, created and run",
            "",
            result["runs_per_s"],
            f"{result['runs_per_s']:.0f}",
        )
        put(
            "c_engine_runs_s",
            "",
            "runs/s, engine (runs queued)",
            "",
            result["engine_runs_per_s"],
            f"{result['engine_runs_per_s']:.0f}",
        )
        put("c_lat", "", "latency of one run", "", result["latency"], f"{result['latency']:.4f} s")
        put(
            "c_per_step",
            "",
            "time per step, one run alone",
            "",
            result["per_step_ms"],
            f"{result['per_step_ms']:.2f} ms",
        )
        put(
            "c_per_step_loaded",
            "",
            "time per step, under load",
            "",
            result["per_step_loaded_ms"],
            f"{result['per_step_loaded_ms']:.2f} ms",
        )
    elif case == "fanout":
        put(
            "fe_s",
            "for_each 1,000 items, conc. 50",
            "total",
            "",
            result["for_each_s"],
            f"{result['for_each_s']:.2f} s",
        )
        put(
            "fe_mib",
            "",
            "peak Python memory",
            "",
            result["for_each_mib"],
            f"{result['for_each_mib']:.1f} MiB",
        )
        put(
            "ind_s",
            "1,000 independent steps, conc. 50",
            "total",
            "",
            result["independent_s"],
            f"{result['independent_s']:.2f} s",
        )
        put(
            "ind_mib",
            "",
            "peak Python memory",
            "",
            result["independent_mib"],
            f"{result['independent_mib']:.1f} MiB",
        )


# -- Prefect -------------------------------------------------------------------------------------


def prefect_python(install: bool) -> tuple[Path | None, str | None]:
    """The Prefect venv's interpreter (created on first use), or why there is none."""
    python = PREFECT_VENV / "bin" / "python"
    if python.exists():
        return python, None
    if not install:
        return None, f"no Prefect virtualenv at {PREFECT_VENV} (run without --no-prefect-install)"
    console.print(f"[dim]Installing Prefect 3 into {PREFECT_VENV} (once)…[/dim]")
    steps = [
        [sys.executable, "-m", "venv", str(PREFECT_VENV)],
        [str(python), "-m", "pip", "install", "--quiet", "prefect>=3,<4"],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            return None, f"`{' '.join(step[-3:])}` failed: {' / '.join(tail)}"
    return python, None


def run_prefect(
    runs: int, install: bool, steps: int = 40, n: int = 10
) -> tuple[dict[str, Any] | None, str | None]:
    python, reason = prefect_python(install)
    if python is None:
        return None, reason
    with tempfile.TemporaryDirectory(prefix="prefect-home-") as home:
        env = {
            **os.environ,
            "PREFECT_HOME": home,
            "PREFECT_SERVER_ALLOW_EPHEMERAL_MODE": "true",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_LOGGING_LEVEL": "WARNING",
            "PREFECT_LOGGING_TO_API_ENABLED": "false",
            # Its server's start-up needs more than the default 20 s on a loaded machine.
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
        }
        env.pop("PREFECT_API_URL", None)
        try:
            done = subprocess.run(
                [str(python), str(PREFECT_SCRIPT), str(runs), str(steps), str(n)],
                capture_output=True,
                text=True,
                timeout=900,
                env=env,
            )
        except subprocess.TimeoutExpired:
            return None, "Prefect did not finish within 15 minutes"
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return None, f"the Prefect flow failed (exit {done.returncode}): {' / '.join(tail)}"
    last = done.stdout.strip().splitlines()[-1]
    result: dict[str, Any] = json.loads(last)
    return result, None


# -- main ----------------------------------------------------------------------------------------


def code_table(
    table: Table,
    rows: dict[str, Row],
    backends: list[str],
    light: dict[str, Any] | None,
    heavy: dict[str, Any] | None,
) -> None:
    """The user-code rows after the engine's own: each way's total and, in brackets, Prefect's
    time divided by it (how many times faster than Prefect)."""
    if "code_light_sandboxed" not in rows:
        return
    table.add_section()
    for key, case_name, metric, goal in CODE_ROWS:
        row = rows[f"code_{key}"]
        reference = light if key.startswith("light") else heavy
        shown = []
        for backend in backends:
            value = row.raw.get(backend)
            if value is None:
                shown.append("—")
            elif reference is None:
                shown.append(f"{value:.3f} s")
            else:
                ratio = statistics.median(reference["times"]) / value
                shown.append(f"{value:.3f} s ({ratio:.1f}x)")
        table.add_row(case_name, metric, *shown, goal)
    for label, reference in (("40 x fibo(10)", light), ("10 x fibo(33)", heavy)):
        if reference is not None:
            median = statistics.median(reference["times"])
            table.add_row(
                f"Prefect {reference['version']}, {label}",
                "same function as tasks, median (the (Nx) above: Prefect ÷ that row)",
                *(f"{median:.3f} s" for _ in backends),
                "",
            )


async def bench_backend(backend: str, cases: list[str], sizes: Sizes) -> dict[str, Any]:
    results = {}
    with tempfile.TemporaryDirectory(prefix="auterity-enginebench-") as tmp:
        for case in cases:
            # A fresh database per case, so one case's rows do not slow the next.
            celery = CELERY if case == "three_step_celery" else None
            async with harness(backend, Path(tmp), celery) as h:
                console.print(f"[dim]{backend}: {case}…[/dim]")
                results[case] = await CASE_FUNCS[case](h, sizes)
    return results


def worker(concurrency: int) -> None:
    """`auterity worker` with the benchmark's action (a step must exist where it runs)."""
    from auterity.cli.worker import run_worker

    run_worker(get_settings(), registry(), concurrency=concurrency)


def main() -> None:
    if sys.argv[1:2] == ["--worker"]:
        worker(int(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=CASES, default=list(CASES))
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-prefect", action="store_true")
    parser.add_argument("--no-prefect-install", action="store_true")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument(
        "--no-events", action="store_true", help="no platform events (run.*) in the outbox"
    )
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    parser.add_argument("--celery-workers", type=int, default=CELERY.count)
    parser.add_argument("--celery-concurrency", type=int, default=CELERY.concurrency)
    args = parser.parse_args()
    CELERY.count, CELERY.concurrency = args.celery_workers, args.celery_concurrency
    OPTIONS.platform_events = not args.no_events
    sizes = Sizes(3, 10, 300, 1000, heavy_runs=1, celery_runs=100) if args.quick else Sizes()

    backends = ["sqlite"]
    notes: list[str] = []
    if not args.no_postgres:
        reason = asyncio.run(postgres_unavailable())
        if reason:
            notes.append(f"PostgreSQL skipped: {reason}")
        else:
            backends.append("postgresql")

    rows: dict[str, Row] = {}
    raw: dict[str, Any] = {}
    for backend in backends:
        raw[backend] = asyncio.run(bench_backend(backend, args.only, sizes))
        for case, result in raw[backend].items():
            rows_for(case, result, backend, rows)

    prefect = heavy_prefect = None
    if "sequential" in args.only or "code" in args.only:
        if args.no_prefect:
            notes.append("Prefect not run (--no-prefect).")
        else:
            console.print("[dim]Prefect 3: 40 sequential tasks…[/dim]")
            # Prefect's times are bimodal here (about 1.2 s or 3.3 s a flow, as its
            # server's background work lands or not): more runs make its median steadier.
            runs = max(10, sizes.sequential_runs * 2)
            prefect, reason = run_prefect(runs, not args.no_prefect_install)
            if prefect is None:
                notes.append(f"Prefect could not be run: {reason}")
            raw["prefect"] = prefect or {"error": reason}
            if prefect is not None and "code" in args.only:
                console.print("[dim]Prefect 3: 10 sequential fibo(33) tasks…[/dim]")
                heavy_prefect, reason = run_prefect(sizes.heavy_runs, False, 10, 33)
                if heavy_prefect is None:
                    notes.append(f"Prefect (10 x fibo(33)) could not be run: {reason}")
                raw["prefect_heavy"] = heavy_prefect or {"error": reason}

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    table = Table(
        title=f"AutoMatrix engine — {platform.python_implementation()} "
        f"{platform.python_version()}, {os.cpu_count()} CPU(s), load {load:.1f} at start"
    )
    table.add_column("Case")
    table.add_column("Metric")
    for backend in backends:
        table.add_column("SQLite" if backend == "sqlite" else "PostgreSQL", justify="right")
    table.add_column("Goal", justify="right")
    for key, row in rows.items():
        if key.startswith("code_"):
            continue  # in code_table, with the ratios to Prefect
        table.add_row(
            row.case, row.metric, *(row.values.get(b, "—") for b in backends), row.goal or ""
        )
    if prefect is not None and "seq" in rows:
        seq = rows["seq"].raw
        median = statistics.median(prefect["times"])
        table.add_section()
        table.add_row(
            f"Prefect {prefect['version']}, ephemeral local mode, same 40 tasks",
            "total, median",
            *(f"{median:.3f} s" for _ in backends),
            "",
        )
        table.add_row("", "total, best", *(f"{min(prefect['times']):.3f} s" for _ in backends), "")
        table.add_row(
            "",
            "first flow run (starts its server)",
            *(f"{prefect['first']:.1f} s" for _ in backends),
            "",
        )
        table.add_row(
            "", "Prefect ÷ AutoMatrix", *(f"{median / seq[b]:.1f}x" for b in backends), ""
        )
    code_table(table, rows, backends, prefect, heavy_prefect)
    if "seq" in rows or "code_light_sandboxed" in rows:
        table.add_section()
        for name, seconds in WINDMILL_PUBLISHED.items():
            table.add_row(
                f"{name}, published by Windmill",
                "40 sequential steps",
                f"{seconds:.2f} s",
                *("" for _ in backends[1:]),
                "",
            )
    console.print(table)
    for note in notes:
        console.print(f"[yellow]{note}[/yellow]")
    if args.json:
        args.json.write_text(json.dumps(raw, indent=2))


if __name__ == "__main__":
    main()
