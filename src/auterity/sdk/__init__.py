"""Workflows written in Python: `@step` functions wired by a `@workflow` function.

    from auterity.sdk import step, workflow

    @step(retries=2, timeout="30s")
    def fetch(url: str) -> dict: ...

    @workflow
    def report(url: str) -> dict:
        page = fetch(url)
        return {"summary": summarize(page["body"])}

A workflow compiles to the same spec as a YAML one (steps of the `python.step` action, their
dependencies from the values passed between them), so it gets durability, retries, progress
and the API. `auterity deploy FILE.py` registers the module and its workflows;
`auterity run FILE.py:NAME --watch` runs one.
"""

from auterity.sdk._steps import Step, StepOptions, step
from auterity.sdk._workflows import Ref, Workflow, workflow, workflows_in

__all__ = ["Ref", "Step", "StepOptions", "Workflow", "step", "workflow", "workflows_in"]
