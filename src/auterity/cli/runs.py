"""`auterity runs list|show|cancel|retry`: runs in the local database or on a server."""

from __future__ import annotations

import json
import uuid
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from auterity.automatrix.schemas import RunOut, RunRetry
from auterity.cli.backend import (
    Backend,
    ServerOption,
    Target,
    TenantOption,
    TokenOption,
    console,
    execute,
)
from auterity.cli.progress import conclude, duration, follow_to_end, steps_table, styled
from auterity.cli.values import inputs_from, step_parameters_from
from auterity.cli.workflows import InputJsonOption, InputOption, WatchOption

app = typer.Typer(help="Workflow runs: list, inspect, cancel, retry.", no_args_is_help=True)
out = Console()
RunId = Annotated[uuid.UUID, typer.Argument(help="The run's id.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


@app.command("list")
def list_runs(
    status: Annotated[
        str | None, typer.Option(help="Only runs in this status (e.g. failed).")
    ] = None,
    workflow: Annotated[
        uuid.UUID | None, typer.Option(help="Only runs of this workflow id.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=200, help="How many, newest first.")] = 20,
    as_json: JsonOption = False,
    server: ServerOption = None,
    token: TokenOption = None,
    tenant: TenantOption = None,
) -> None:
    """The newest runs."""

    async def go(backend: Backend) -> None:
        runs = await backend.list_runs(status=status, workflow_id=workflow, limit=limit)
        if as_json:
            print(json.dumps([r.model_dump(mode="json") for r in runs], indent=2))
            return
        table = Table(
            title=f"{len(runs)} run(s), newest first",
            title_justify="left",
            box=None,
            pad_edge=False,
            header_style="bold underline",
        )
        # Ids and statuses are never cut short (ids are what `runs show` takes); names fold.
        table.add_column("run", no_wrap=True, min_width=36)
        table.add_column("status", no_wrap=True, min_width=9)
        table.add_column("workflow", overflow="fold", min_width=8)
        table.add_column("created", no_wrap=True)
        table.add_column("took", justify="right", no_wrap=True)
        for run in runs:
            name = await backend.workflow_name(run.workflow_id)
            table.add_row(
                str(run.id),
                styled(run.status),
                f"{escape(name)} v{run.version}",
                run.created_at.strftime("%m-%d %H:%M"),
                duration(run.started_at, run.finished_at),
            )
        out.print(table)

    execute(Target(server, token, tenant), go)


@app.command()
def show(
    run_id: RunId,
    as_json: JsonOption = False,
    server: ServerOption = None,
    token: TokenOption = None,
    tenant: TenantOption = None,
) -> None:
    """One run: its steps, error and outputs."""

    async def go(backend: Backend) -> None:
        run = await backend.get_run(run_id)
        if as_json:
            print(run.model_dump_json(indent=2))
            return
        name = await backend.workflow_name(run.workflow_id)
        out.print(f"workflow  {escape(name)} v{run.version} ({run.workflow_id})", soft_wrap=True)
        out.print(f"inputs    {escape(json.dumps(run.inputs))}", soft_wrap=True)
        if run.retry_of:
            out.print(f"retry of  {run.retry_of}", soft_wrap=True)
        if run.step_overrides:
            out.print(f"edited    {escape(json.dumps(run.step_overrides))}", soft_wrap=True)
        out.print(steps_table(run))
        if run.error:
            out.print(
                f"[red]error[/red]     {escape(str(run.error.get('message')))}", soft_wrap=True
            )
        if run.outputs is not None:
            out.print("outputs")
            print(json.dumps(run.outputs, indent=2, default=str))

    execute(Target(server, token, tenant), go)


@app.command()
def cancel(
    run_id: RunId,
    server: ServerOption = None,
    token: TokenOption = None,
    tenant: TenantOption = None,
) -> None:
    """Cancel a run that has not ended; its running steps are stopped."""

    async def go(backend: Backend) -> RunOut:
        return await backend.cancel_run(run_id)

    run = execute(Target(server, token, tenant), go)
    out.print(f"Run {run.id} {styled(run.status)}.", soft_wrap=True)
    if run.status != "cancelled":
        raise typer.Exit(1)


@app.command()
def retry(
    run_id: RunId,
    from_step: Annotated[
        str | None,
        typer.Option(help="Run this step and all after it again (default: the failed steps)."),
    ] = None,
    input_: InputOption = None,
    input_json: InputJsonOption = None,
    with_: Annotated[
        list[str] | None,
        typer.Option(
            "--with",
            help="STEP.PARAMETER=VALUE, repeatable: edit a step's parameters (it runs again).",
        ),
    ] = None,
    with_json: Annotated[
        str | None,
        typer.Option("--with-json", help='Edited parameters as JSON: {"step": {"param": 1}}.'),
    ] = None,
    watch: WatchOption = False,
    server: ServerOption = None,
    token: TokenOption = None,
    tenant: TenantOption = None,
) -> None:
    """Retry a finished run as a new run: steps that succeeded before the restart point are
    reused, not run again. Inputs given replace the original's (the rest are kept). Exit code
    as for `auterity run`."""
    inputs = inputs_from(input_, input_json)
    body = RunRetry(
        from_step=from_step,
        inputs=inputs or None,
        with_=step_parameters_from(with_, with_json),
    )

    async def go(backend: Backend) -> int:
        started = await backend.retry_run(run_id, body)
        reused = [s.id for s in started.steps or [] if s.reused_from]
        note = f"reusing {', '.join(reused)}" if reused else "reusing no step"
        console.print(f"Run {started.id} retries {run_id}, {note}.", soft_wrap=True)
        return conclude(await follow_to_end(backend, started, watch=watch))

    raise typer.Exit(execute(Target(server, token, tenant), go))
