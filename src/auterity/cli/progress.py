"""Showing runs: the step table (live with `--watch`), following a run to its end, the outputs
as JSON on stdout, and the exit code (0 succeeded, 1 failed or cancelled).

Everything but the outputs goes to stderr, so `auterity run wf.yaml > out.json` keeps a clean
JSON document.
"""

from __future__ import annotations

import json
from datetime import datetime

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from auterity.automatrix.schemas import RunOut, StepOut
from auterity.cli.backend import Backend
from auterity.core.clock import utcnow

console = Console(stderr=True)
STATUS_STYLE = {
    "succeeded": "green",
    "failed": "red",
    "cancelled": "red",
    "running": "cyan",
    "waiting": "yellow",
    "skipped": "dim",
    "pending": "dim",
    "queued": "dim",
}


def duration(started: datetime | None, finished: datetime | None) -> str:
    if started is None:
        return ""
    seconds = ((finished or utcnow()) - started).total_seconds()
    return f"{seconds * 1000:.0f}ms" if seconds < 1 else f"{seconds:.1f}s"


def styled(status: str) -> str:
    style = STATUS_STYLE.get(status, "")
    return f"[{style}]{status}[/{style}]" if style else status


def step_status(step: StepOut) -> str:
    return styled(step.status) + (" [dim](reused)[/dim]" if step.reused_from else "")


def steps_table(run: RunOut) -> Table:
    table = Table(
        title=f"run {run.id} {styled(run.status)} {duration(run.started_at, run.finished_at)}",
        title_justify="left",
    )
    table.add_column("step", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("attempt", justify="right")
    table.add_column("duration", justify="right", no_wrap=True)
    table.add_column("error", overflow="fold")
    for step in run.steps or []:
        error = (step.error or {}).get("message", "") if step.status != "skipped" else ""
        table.add_row(
            escape(step.id),
            step_status(step),
            str(step.attempt),
            duration(step.started_at, step.finished_at),
            escape(str(error)),
        )
    return table


async def follow_to_end(backend: Backend, run: RunOut, *, watch: bool) -> RunOut:
    """Follow the run until it ends; with `watch`, redraw its step table at every change."""
    final = run
    if not watch:
        async for snapshot in backend.follow(run.id):
            final = snapshot
        return final
    with Live(steps_table(run), console=console, auto_refresh=True, refresh_per_second=8) as live:
        async for snapshot in backend.follow(run.id):
            final = snapshot
            live.update(steps_table(snapshot))
    if not console.is_terminal:
        console.print()  # off a terminal, Live leaves its last frame without a line end
    return final


def conclude(run: RunOut) -> int:
    """Print how the run ended (outputs to stdout); the exit code."""
    took = duration(run.started_at, run.finished_at)
    if run.status == "succeeded":
        console.print(f"[green]Run {run.id} succeeded[/green] in {took}.", soft_wrap=True)
        print(json.dumps(run.outputs, indent=2, default=str))
        return 0
    message = (run.error or {}).get("message", "no reason recorded")
    console.print(f"[red]Run {run.id} {run.status}[/red]: {escape(str(message))}", soft_wrap=True)
    console.print(f"Retry it from where it stopped: auterity runs retry {run.id}", soft_wrap=True)
    return 1
