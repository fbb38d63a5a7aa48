"""`auterity worker` with the actions the engine tests add to their app's registry (a step
the test defines must exist where it runs). Started by the `celery_sqlite`/`celery_postgresql`
fixtures with the same settings as the app under test."""

from __future__ import annotations

import typer

from auterity.automatrix.actions.registry import default_registry
from auterity.cli.worker import run_worker
from auterity.core.settings import get_settings
from tests.integration.automatrix.test_celery_executor import Where
from tests.integration.automatrix.test_engine import Sleep


def main(concurrency: int = 8) -> None:
    registry = default_registry().with_overrides({Sleep.name: Sleep, Where.name: Where})
    run_worker(get_settings(), registry, concurrency=concurrency)


if __name__ == "__main__":
    typer.run(main)
