"""`auterity template validate|test FILE`: check a template file, or run its test cases."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from auterity.automatrix.actions.registry import default_registry
from auterity.automatrix.templates.checks import check_template
from auterity.automatrix.templates.document import TemplateDocument
from auterity.automatrix.templates.testing import run_tests
from auterity.cli.backend import report_error
from auterity.cli.workflows import out, print_problems, read_workflow
from auterity.core.errors import AuterityError
from auterity.core.settings import get_settings

app = typer.Typer(
    help="Workflow templates: validate and test template files.", no_args_is_help=True
)
TemplateFile = Annotated[
    Path,
    typer.Argument(
        exists=True, dir_okay=False, readable=True, help="A template (.yaml, .yml or .json)."
    ),
]


def _load(file: Path) -> TemplateDocument:
    try:
        raw, _ = read_workflow(file)
    except AuterityError as error:
        report_error(error)
        raise typer.Exit(2) from None
    document, report = check_template(raw, default_registry())
    print_problems(report)
    if document is None or report.errors:
        out.print(
            f"[red]{escape(str(file))} is invalid[/red]: {len(report.errors)} error(s)",
            soft_wrap=True,
        )
        raise typer.Exit(2)
    return document


@app.command("validate")
def validate_template(file: TemplateFile) -> None:
    """Check a template: its parameters, its workflow and its test cases (exit 2 if invalid)."""
    document = _load(file)
    out.print(
        f"[green]{escape(str(file))} is valid[/green]: "
        f"{len(document.parameters.get('properties') or {})} parameter(s), "
        f"{len(document.tests)} test case(s)",
        soft_wrap=True,
    )


@app.command("test")
def test_template(file: TemplateFile) -> None:
    """Run the template's test cases on the engine (a scratch database; canned responses for
    steps that reach outside). Exit code: 0 all passed, 1 a case failed, 2 invalid template."""
    document = _load(file)
    if not document.tests:
        out.print("[yellow]no test cases[/yellow]: add some under `tests:`")
        raise typer.Exit(1)
    results = asyncio.run(run_tests(document, default_registry(), get_settings()))
    for result in results:
        mark = "[green]PASS[/green]" if result.passed else "[red]FAIL[/red]"
        out.print(f"{mark} {escape(result.name)}", soft_wrap=True)
        for failure in result.failures:
            out.print(f"     {escape(failure)}", soft_wrap=True)
    failed = sum(not result.passed for result in results)
    summary = f"{len(results) - failed} passed, {failed} failed"
    out.print(f"[red]{summary}[/red]" if failed else f"[green]{summary}[/green]")
    if failed:
        raise typer.Exit(1)
