"""Where workflow commands act: the local database with an in-process engine, or a server's
HTTP API (`--server`). Both speak in the API's shapes and raise the one error tree.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any, Protocol, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from auterity.automatrix.schemas import RunOut, RunRetry, WorkflowOut
from auterity.core.errors import AuterityError, BadRequest, ValidationFailed

T = TypeVar("T")
console = Console(stderr=True)

ServerOption = Annotated[
    str | None,
    typer.Option(
        "--server",
        envvar="AUTERITY_SERVER",
        help="Use this server's API (e.g. http://127.0.0.1:8000) instead of the local database.",
    ),
]
TokenOption = Annotated[
    str | None,
    typer.Option("--token", envvar="AUTERITY_TOKEN", help="Access token or API key for --server."),
]
TenantOption = Annotated[
    str | None,
    typer.Option(
        "--tenant",
        envvar="AUTERITY_TENANT",
        help="Tenant (slug or name) in the local database; default: the only one.",
    ),
]


@dataclass(frozen=True)
class Target:
    server: str | None = None
    token: str | None = None
    tenant: str | None = None


class Backend(Protocol):
    async def save_workflow(self, document: Any, source: str | None) -> tuple[WorkflowOut, bool]:
        """Create the workflow named in `document` or add a version; True when it saved one."""

    async def start_run(self, workflow_id: uuid.UUID, inputs: dict[str, Any]) -> RunOut: ...

    async def deploy_module(self, name: str, source: str) -> str:
        """Store SDK code (trusted, run in-process by `python.step`); its `name@digest` ref."""

    async def retry_run(self, run_id: uuid.UUID, retry: RunRetry) -> RunOut: ...

    async def get_run(self, run_id: uuid.UUID) -> RunOut: ...

    async def list_runs(
        self, *, status: str | None, workflow_id: uuid.UUID | None, limit: int
    ) -> list[RunOut]: ...

    async def workflow_name(self, workflow_id: uuid.UUID) -> str: ...

    async def cancel_run(self, run_id: uuid.UUID) -> RunOut:
        """Ask for cancellation and wait (a little) for the run to end; the run as it is then."""

    def follow(self, run_id: uuid.UUID) -> AsyncIterator[RunOut]:
        """The run after each change until it ends (the last one yielded has ended)."""

    async def close(self) -> None: ...


@asynccontextmanager
async def open_backend(target: Target) -> AsyncIterator[Backend]:
    backend: Backend
    if target.server:
        if target.tenant:
            raise typer.BadParameter(
                "with --server the token decides the tenant", param_hint="--tenant"
            )
        if not target.token:
            raise typer.BadParameter(
                "--server needs a token (--token or AUTERITY_TOKEN)", param_hint="--token"
            )
        from auterity.cli.http_backend import HttpBackend

        backend = HttpBackend(target.server, target.token)
    else:
        from auterity.cli.local_backend import LocalBackend

        backend = await LocalBackend.open(target.tenant)
    try:
        yield backend
    finally:
        await backend.close()


def report_error(error: AuterityError) -> int:
    """Print the error with every field problem; the exit code (2 for invalid input)."""
    console.print(f"[red]{escape(error.detail)}[/red]", soft_wrap=True)
    for problem in error.errors:
        hint = f" [dim]({escape(problem.hint)})[/dim]" if problem.hint else ""
        console.print(
            f"  {escape(problem.pointer or '/')}: {escape(problem.message)}{hint}", soft_wrap=True
        )
    return 2 if isinstance(error, ValidationFailed | BadRequest) else 1


def execute(target: Target, command: Callable[[Backend], Awaitable[T]]) -> T:
    """Run `command` against the chosen backend; errors end the process with their exit code."""

    async def main() -> T:
        async with open_backend(target) as backend:
            return await command(backend)

    try:
        return asyncio.run(main())
    except AuterityError as error:
        raise typer.Exit(report_error(error)) from None
    except KeyboardInterrupt:
        console.print(
            "Interrupted. A run that had not ended is kept: `auterity runs list` shows it, "
            "`auterity runs cancel ID` stops it, and `auterity up` (or the server) resumes it.",
            soft_wrap=True,
        )
        raise typer.Exit(130) from None
