"""Prefect 3's side of the sequential cases; run by engine.py in Prefect's own venv.

`prefect_sequential.py RUNS [STEPS N]`: RUNS flow runs of STEPS sequential tasks, each
computing fibo(N) (default 40 tasks of fibo(10), Windmill's harness). Prints one JSON line:
{"version", "times": [seconds per flow run], "first": seconds}. The first flow run starts
Prefect's ephemeral local server and is reported apart, not in `times`.
"""

from __future__ import annotations

import json
import sys
import time

import prefect
from prefect import flow, task


def fibo(n: int) -> int:
    return n if n < 2 else fibo(n - 1) + fibo(n - 2)


@task
def fibo_task(n: int) -> int:
    return fibo(n)


@flow
def sequential(steps: int = 40, n: int = 10) -> int:
    value = 0
    for _ in range(steps):
        value = fibo_task(n)
    return value


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 40
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    started = time.perf_counter()
    sequential(steps, 10)  # warm-up (starts the server); always the light flow
    first = time.perf_counter() - started
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        sequential(steps, n)
        times.append(time.perf_counter() - started)
    print(json.dumps({"version": prefect.__version__, "first": first, "times": times}))


if __name__ == "__main__":
    main()
