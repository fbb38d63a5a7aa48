"""Health endpoints: `/health` (details), `/health/live` (process), `/health/ready` (can serve)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from auterity import __version__
from auterity.core.clock import utcnow
from auterity.core.deps import RuntimeDep
from auterity.core.migrate import current_revisions, head_revisions
from auterity.core.runtime import Runtime

router = APIRouter(tags=["health"])
CHECK_TIMEOUT_S = 2.0
# The loop monitor wakes every 0.25 s; silence for this long means the loop is stuck.
LOOP_STALL_LIMIT_S = 5.0


async def _timed(check: Any) -> dict[str, Any]:
    try:
        return await asyncio.wait_for(check, CHECK_TIMEOUT_S)
    except TimeoutError:
        return {"status": "down", "error": f"no answer within {CHECK_TIMEOUT_S:.0f}s"}
    except Exception as exc:  # a failing dependency is a health result, not an error
        return {"status": "down", "error": type(exc).__name__}


async def _database(runtime: Runtime) -> dict[str, Any]:
    # Reading the revision is the round trip: it proves the database answers, so a separate
    # `SELECT 1` session would only double the cost of every probe.
    started = time.perf_counter()
    current = await current_revisions(runtime.db)
    latency = (time.perf_counter() - started) * 1000
    at_head = current == head_revisions()
    result: dict[str, Any] = {
        "status": "up" if at_head else "down",
        "latency_ms": round(latency, 2),
        "revision": ",".join(current) or None,
    }
    if not at_head:
        result["error"] = "migrations are not at head; run `auterity db upgrade`"
    return result


async def _redis(runtime: Runtime) -> dict[str, Any]:
    assert runtime.redis is not None
    loop = asyncio.get_running_loop()
    started = loop.time()
    await runtime.redis.ping()
    return {"status": "up", "latency_ms": round((loop.time() - started) * 1000, 2)}


async def check_dependencies(runtime: Runtime) -> dict[str, dict[str, Any]]:
    checks: dict[str, Any] = {"database": _database(runtime)}
    if runtime.redis is not None:
        checks["redis"] = _redis(runtime)
    results = await asyncio.gather(*(_timed(check) for check in checks.values()))
    return dict(zip(checks, results, strict=True))


@router.get("/health", summary="Health with dependency details")
async def health(runtime: RuntimeDep) -> JSONResponse:
    dependencies = await check_dependencies(runtime)
    healthy = all(dep["status"] == "up" for dep in dependencies.values())
    return JSONResponse(
        {
            "status": "ok" if healthy else "degraded",
            "timestamp": utcnow().isoformat(),
            "version": __version__,
            "services": list(runtime.services),
            "event_loop_lag_ms": round(runtime.loop_monitor.lag_ms, 2),
            "dependencies": dependencies,
        }
    )


@router.get("/health/live", summary="Liveness: the process and its event loop respond")
async def live(runtime: RuntimeDep) -> JSONResponse:
    stalled = runtime.loop_monitor.stalled_for()
    if stalled > LOOP_STALL_LIMIT_S:
        return JSONResponse({"live": False, "loop_stalled_s": round(stalled, 1)}, status_code=503)
    return JSONResponse({"live": True})


@router.get("/health/ready", summary="Readiness: database at head, Redis when configured")
async def ready(runtime: RuntimeDep) -> JSONResponse:
    dependencies = await check_dependencies(runtime)
    failing = [name for name, dep in dependencies.items() if dep["status"] != "up"]
    body: dict[str, Any] = {"ready": not failing, "dependencies": dependencies}
    if failing:
        body["failing"] = failing
        return JSONResponse(body, status_code=503)
    return JSONResponse(body)
