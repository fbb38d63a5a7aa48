"""The user code of the code-step benchmark, as an SDK module that engine.py deploys.

The same `fibo` runs three ways: as `code.python` (sandboxed; FIBO_CODE below), as these
`@step`s in-process (`python.step`), and as Prefect tasks (prefect_sequential.py).
"""

from __future__ import annotations

from auterity.sdk import Ref, step, workflow

FIBO_CODE = """
def fibo(n):
    return n if n < 2 else fibo(n - 1) + fibo(n - 2)

def main(n):
    return fibo(n)
"""


def fibo_plain(n: int) -> int:
    return n if n < 2 else fibo_plain(n - 1) + fibo_plain(n - 2)


@step
def fibo(n: int) -> int:
    return fibo_plain(n)


def _chain(steps: int, n: int) -> object:
    previous: Ref | int | None = None
    for _ in range(steps):
        previous = fibo.after(*([previous] if previous is not None else []))(n)
    return previous


@workflow(name="sdk-40-fibo-10")
def light() -> object:
    return _chain(40, 10)


@workflow(name="sdk-10-fibo-33")
def heavy() -> object:
    return _chain(10, 33)
