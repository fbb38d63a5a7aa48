"""RelayCore's money-and-limits stages, per request: what each adds to the gateway's overhead.

Times, in this process, the calls the request pipeline makes around the provider call: rate
limits (`admit`), the budget ledger (`reserve` + `settle`, with two budgets covering the
request), the exact cache (a miss and a hit) and `complete` (usage row queued, metrics). Each
store is measured sequentially (p50/p99 of one call) and under 50 concurrent callers (calls/s):
counters in SQLite, in PostgreSQL and in Redis, the cache in memory and in Redis. The usage
writer runs in the background during the `complete` rows, as in the gateway.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import uvloop
from rich.console import Console
from rich.table import Table

from auterity.core import migrate
from auterity.core.database import Database
from auterity.core.runtime import Runtime
from auterity.core.settings import load_settings
from auterity.identity.models import Tenant
from auterity.relaycore.accounting import RelayAccounting
from auterity.relaycore.budgets.models import Budget
from auterity.relaycore.payer import Payer
from auterity.relaycore.usage import UsageEntry

console = Console(width=None if sys.stdout.isatty() else 160)
POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
REDIS = "redis://127.0.0.1:6379/0"
REQUEST = {"model": "fast", "messages": [{"role": "user", "content": "Say hi"}], "max_tokens": 32}


async def measure(
    call: Callable[[], Awaitable[object]], iterations: int, concurrency: int
) -> tuple[float, float, float, float]:
    """(p50 ms, p99 ms, CPU µs per call) sequentially, and calls/s with `concurrency` callers.

    The CPU time is the whole process's (the SQLite driver's thread included): on a machine
    shared with other work it is the steadier figure, wall-clock latency includes waiting
    for a core.
    """
    for _ in range(min(50, iterations)):
        await call()
    samples = []
    cpu_started = time.process_time()
    for _ in range(iterations):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    cpu_us = (time.process_time() - cpu_started) / iterations * 1e6
    samples.sort()
    p50 = statistics.median(samples)
    p99 = samples[int(len(samples) * 0.99) - 1]
    per_caller = max(1, iterations // concurrency)

    async def caller() -> None:
        for _ in range(per_caller):
            await call()

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    rate = per_caller * concurrency / (time.perf_counter() - started)
    return p50, p99, cpu_us, rate


async def setup(
    database_url: str, schema: str | None, redis_url: str | None, data: Path
) -> tuple[Runtime, RelayAccounting, Payer]:
    settings = load_settings(
        environment="test", data_dir=data, database_url=database_url, database_schema=schema,
        redis_url=redis_url, log_level="warning", access_log=False, _env_file=None,
    )  # fmt: skip
    db = Database(settings)
    await migrate.upgrade(db)
    runtime = Runtime.build(settings, ("relaycore",), db=db)
    relay = RelayAccounting.build(runtime)
    tenant = uuid.uuid4()
    key = uuid.uuid4()
    async with db.session() as session:
        limits = {"requests_per_minute": 10_000_000, "tokens_per_minute": 10**10}
        session.add(Tenant(id=tenant, name="bench", slug=f"bench-{tenant.hex[:8]}",
                           settings={"relay": {"key_limits": limits}}))  # fmt: skip
        await session.flush()
        for scope, scope_id in (("tenant", None), ("api_key", str(key))):
            session.add(Budget(
                tenant_id=tenant, name=scope, scope=scope, scope_id=scope_id, period="month",
                limit_micros=10**15, mode="hard", alert_threshold_percent=100, downgrade=False,
            ))  # fmt: skip
    await relay.start()
    return runtime, relay, Payer(tenant, key, workflow="bench")


async def run_store(
    label: str,
    database_url: str,
    schema: str | None,
    redis_url: str | None,
    iterations: int,
    concurrency: int,
    table: Table,
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        runtime, relay, payer = await setup(database_url, schema, redis_url, Path(tmp))
        try:

            async def budget() -> None:
                await relay.ledger.settle(await relay.ledger.reserve(payer, 2_000), 1_500)

            unbudgeted = Payer(uuid.uuid4())

            async def no_budget() -> None:
                await relay.ledger.settle(await relay.ledger.reserve(unbudgeted, 2_000), 1_500)

            async def limits() -> None:
                await relay.rate_limits.admit(payer, 100)

            lookup = await relay.cache.lookup(payer.tenant_id, REQUEST)
            await relay.cache.store(lookup, {"choices": []}, routed_model="m", provider="p")

            async def cache_hit() -> None:
                await relay.cache.lookup(payer.tenant_id, REQUEST)

            async def cache_miss() -> None:
                await relay.cache.lookup(
                    payer.tenant_id, {**REQUEST, "seed": time.perf_counter_ns()}
                )

            async def complete() -> None:
                relay.complete(
                    UsageEntry(
                        tenant_id=payer.tenant_id,
                        requested_model="fast",
                        status="ok",
                        api_key_id=payer.api_key_id,
                        cost_micros=1_500,
                        latency_ms=3,
                    )
                )

            for name, call in (
                ("rate limits: admit (rpm + tpm)", limits),
                ("budgets: reserve + settle (2 budgets)", budget),
                ("budgets: reserve + settle (none apply)", no_budget),
                ("cache: exact miss", cache_miss),
                ("cache: exact hit", cache_hit),
                ("complete (usage queued, metrics)", complete),
            ):
                p50, p99, cpu_us, rate = await measure(call, iterations, concurrency)
                table.add_row(
                    label, name, f"{p50:.3f}", f"{p99:.3f}", f"{cpu_us:,.0f}", f"{rate:,.0f}"
                )
        finally:
            await relay.stop()
            await runtime.close()


async def main(iterations: int, concurrency: int) -> None:
    title = f"RelayCore money stages: {iterations} calls one by one, then {concurrency} callers"
    table = Table(title=title)
    for column in ("store", "stage", "p50 ms", "p99 ms", "CPU µs/call", "calls/s (concurrent)"):
        table.add_column(column, justify="left" if column in ("store", "stage") else "right")
    with tempfile.TemporaryDirectory() as tmp:
        await run_store(
            "SQLite, no Redis",
            f"sqlite+aiosqlite:///{tmp}/bench.db",
            None,
            None,
            iterations,
            concurrency,
            table,
        )
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(POSTGRES.replace("+asyncpg", ""))
    await conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        await run_store(
            "PostgreSQL, no Redis", POSTGRES, schema, None, iterations, concurrency, table
        )
        await run_store(
            "PostgreSQL + Redis", POSTGRES, schema, REDIS, iterations, concurrency, table
        )
    finally:
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await conn.close()
    console.print(table)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iterations", type=int, default=2_000)
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args()
    uvloop.run(main(args.iterations, args.concurrency))
