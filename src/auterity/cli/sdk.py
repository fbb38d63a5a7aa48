"""`auterity deploy FILE.py` and `auterity run FILE.py:NAME`: workflows written with the SDK.

The file is imported here to find its `@workflow`s, stored as a module on the platform (the
steps' code), and each workflow is compiled against the stored module's ref and saved.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from auterity.automatrix.schemas import WorkflowOut
from auterity.cli.backend import (
    Backend,
    ServerOption,
    Target,
    TenantOption,
    TokenOption,
    console,
    execute,
)
from auterity.sdk import Workflow, workflows_in

SDK_TARGET = re.compile(r"^(?P<path>.+\.py)(?::(?P<name>[A-Za-z_][A-Za-z0-9_]*))?$")
PythonFile = Annotated[
    Path,
    typer.Argument(
        exists=True, dir_okay=False, readable=True, help="A Python file of @workflow functions."
    ),
]


def load_workflows(path: Path) -> tuple[str, str, dict[str, Workflow]]:
    """(module name, source, workflows by attribute name) of an SDK file."""
    name = path.stem
    source = path.read_text(encoding="utf-8")
    spec = importlib.util.spec_from_file_location(f"auterity_cli_{name}", path)
    if spec is None or spec.loader is None:
        raise typer.BadParameter(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    found = workflows_in(module)
    if not found:
        raise typer.BadParameter(f"{path} defines no @workflow", param_hint="FILE")
    return name, source, found


async def deploy_file(
    backend: Backend, path: Path, only: str | None = None
) -> dict[str, WorkflowOut]:
    """Store the module and save its workflows (or only `only`); the saved ones by attribute."""
    name, source, found = load_workflows(path)
    if only is not None and only not in found:
        raise typer.BadParameter(
            f"{path} has no @workflow {only!r} (it has {', '.join(sorted(found))})",
            param_hint="FILE:NAME",
        )
    ref = await backend.deploy_module(name, source)
    console.print(f"Module {escape(ref)} deployed.", soft_wrap=True)
    saved: dict[str, WorkflowOut] = {}
    for attribute, flow in sorted(found.items()):
        if only is not None and attribute != only:
            continue
        document: dict[str, Any] = flow.compile(ref)
        workflow, changed = await backend.save_workflow(document, None)
        console.print(
            f"Workflow {escape(workflow.name)!r} version {workflow.version}"
            + (" saved." if changed else " (unchanged)."),
            soft_wrap=True,
        )
        saved[attribute] = workflow
    return saved


def deploy(
    file: PythonFile,
    server: ServerOption = None,
    token: TokenOption = None,
    tenant: TenantOption = None,
) -> None:
    """Register the @workflows of a Python file (and its @step code) on the platform. Over
    --server the tenant must be trusted by the operator (AUTERITY_SDK_TRUSTED_TENANTS)."""

    async def go(backend: Backend) -> None:
        await deploy_file(backend, file)

    execute(Target(server, token, tenant), go)
