"""`auterity worker`: a Celery worker that runs step attempts for engines using
AUTERITY_EXECUTOR=celery (same settings: database, secret key, data dir, Redis)."""

from __future__ import annotations

from typing import Annotated

import typer

from auterity.automatrix.actions.registry import ActionRegistry, default_registry
from auterity.automatrix.engine import Engine
from auterity.automatrix.executors.celery_app import celery_app
from auterity.automatrix.executors.worker import WorkerHost, register_step_task
from auterity.core.logging import configure_logging
from auterity.core.settings import Settings, get_settings


def worker(
    concurrency: Annotated[
        int, typer.Option(min=1, help="Attempts run at once (threads or processes).")
    ] = 8,
    queues: Annotated[
        str | None, typer.Option(help="Comma-separated queues (default AUTERITY_CELERY_QUEUE).")
    ] = None,
    pool: Annotated[
        str,
        typer.Option(
            help="threads (attempts share one event loop; best for I/O-bound steps), prefork "
            "(a process each, for CPU-bound steps) or solo."
        ),
    ] = "threads",
    loglevel: Annotated[str, typer.Option(help="Celery's log level.")] = "warning",
) -> None:
    """Run step attempts sent by engines using the Celery executor."""
    if pool not in ("threads", "prefork", "solo"):
        raise typer.BadParameter("choose threads, prefork or solo", param_hint="--pool")
    run_worker(get_settings(), default_registry(), concurrency, queues, pool, loglevel)


def run_worker(
    settings: Settings,
    registry: ActionRegistry,
    concurrency: int = 8,
    queues: str | None = None,
    pool: str = "threads",
    loglevel: str = "warning",
) -> None:
    configure_logging(settings)
    app = celery_app(settings)
    register_step_task(
        app, WorkerHost(lambda: _engine(settings, registry), str(settings.redis_url))
    )
    app.worker_main(
        [
            "worker",
            f"--concurrency={concurrency}",
            f"--queues={queues or settings.celery_queue}",
            f"--pool={pool}",
            f"--loglevel={loglevel.upper()}",
            # Workers need not know of each other: tasks are routed by the broker.
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
    )


def _engine(settings: Settings, registry: ActionRegistry) -> Engine:
    # Built inside the worker's event loop; runs nothing until a task arrives.
    from auterity.api.engine import build_engine
    from auterity.core.runtime import Runtime
    from auterity.secrets import SecretService

    runtime = Runtime.build(settings, ("automatrix",))
    return build_engine(runtime, registry, SecretService.build(runtime), executor="local")
