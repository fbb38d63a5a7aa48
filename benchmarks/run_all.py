"""Every benchmark with its default settings, one after another (`make bench`).

Each entry names a benchmark and the function that runs it and prints its own results;
a new benchmark is one more line in BENCHMARKS.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import api_baseline
import local_model
from rich.console import Console


def _engine() -> int:
    # engine.py runs Prefect in a virtualenv of its own, so it is a child process here too.
    here = Path(__file__).parent
    return subprocess.call([sys.executable, str(here / "engine.py")])


BENCHMARKS: list[tuple[str, Callable[[], int]]] = [
    ("api_baseline", lambda: api_baseline.main([])),
    ("engine", _engine),
    ("local_model", lambda: local_model.main([])),
]


def main() -> int:
    console = Console()
    failed = []
    for name, run in BENCHMARKS:
        console.rule(name)
        started = time.perf_counter()
        if run() != 0:
            failed.append(name)
        console.print(f"{name} took {time.perf_counter() - started:.0f} s")
    if failed:
        console.print(f"[red]failed: {', '.join(failed)}[/red]")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
