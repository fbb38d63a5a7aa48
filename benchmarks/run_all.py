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


def _child(script: str) -> Callable[[], int]:
    # engine.py runs Prefect in a virtualenv of its own and relay_overhead.py starts servers
    # and pins itself to a core, so each runs as a child process.
    return lambda: subprocess.call([sys.executable, str(Path(__file__).parent / script)])


BENCHMARKS: list[tuple[str, Callable[[], int]]] = [
    ("api_baseline", lambda: api_baseline.main([])),
    ("engine", _child("engine.py")),
    ("local_model", lambda: local_model.main([])),
    ("relay_overhead", _child("relay_overhead.py")),
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
