"""`auterity validate FILE` and `auterity run FILE`: check a workflow file, or save and run it.

`auterity run` also takes a template file: `--param k=v` fills its parameters, and the filled
workflow is saved and run like any other (publishing templates is the API's job)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from auterity.automatrix.actions.registry import default_registry
from auterity.automatrix.documents import parse_document
from auterity.automatrix.templates.checks import check_template
from auterity.automatrix.templates.params import fill, resolve_values
from auterity.automatrix.validation import Report
from auterity.automatrix.validation import validate as validate_document
from auterity.cli.backend import (
    Backend,
    ServerOption,
    Target,
    TenantOption,
    TokenOption,
    console,
    execute,
    report_error,
)
from auterity.cli.progress import conclude, follow_to_end
from auterity.cli.sdk import SDK_TARGET, deploy_file
from auterity.cli.values import inputs_from, parameters_from
from auterity.core.errors import AuterityError

out = Console()
WorkflowFile = Annotated[
    Path,
    typer.Argument(
        exists=True, dir_okay=False, readable=True, help="A workflow spec (.yaml, .yml or .json)."
    ),
]
InputOption = Annotated[
    list[str] | None,
    typer.Option(
        "--input",
        "-i",
        help="KEY=VALUE, repeatable; VALUE is read as JSON when it parses, else as a string.",
    ),
]
InputJsonOption = Annotated[
    str | None, typer.Option("--input-json", help="All inputs as one JSON object.")
]
ParamOption = Annotated[
    list[str] | None,
    typer.Option(
        "--param",
        "-p",
        help="For a template file: PARAMETER=VALUE, repeatable (VALUE as JSON when it parses).",
    ),
]
ParamsJsonOption = Annotated[
    str | None, typer.Option("--params-json", help="A template's parameters as one JSON object.")
]
WatchOption = Annotated[
    bool, typer.Option("--watch", "-w", help="Show a live table of the steps until the run ends.")
]


def read_workflow(path: Path) -> tuple[Any, str | None]:
    """The parsed document and, for YAML, its text (kept as the version's source)."""
    data = path.read_bytes()
    if path.suffix.lower() == ".json":
        return parse_document(data, "application/json"), None
    return parse_document(data, "application/yaml"), data.decode("utf-8", errors="replace")


def validate(file: WorkflowFile) -> None:
    """Check a workflow file: every problem with its JSON pointer and a hint (exit 1 if any)."""
    try:
        document, _ = read_workflow(file)
    except AuterityError as error:
        report_error(error)
        raise typer.Exit(1) from None
    report = validate_document(document, default_registry())
    print_problems(report)
    counts = f"{len(report.errors)} error(s), {len(report.warnings)} warning(s)"
    if report.errors:
        out.print(f"[red]{escape(str(file))} is invalid[/red]: {counts}", soft_wrap=True)
        raise typer.Exit(1)
    steps = len(report.spec.steps) if report.spec else 0
    out.print(
        f"[green]{escape(str(file))} is valid[/green]: {steps} step(s), {counts}", soft_wrap=True
    )


def print_problems(report: Report) -> None:
    """Each error and warning with its JSON pointer, and the hint under it."""
    for label, style, problems in (
        ("error", "red", report.errors),
        ("warning", "yellow", report.warnings),
    ):
        for problem in problems:
            out.print(
                f"[{style}]{label}[/{style}] {escape(problem.pointer or '/')}: "
                f"{escape(problem.message)}",
                soft_wrap=True,
            )
            if problem.hint:
                out.print(f"    hint: {escape(problem.hint)}", soft_wrap=True)


RunTarget = Annotated[
    str,
    typer.Argument(
        help="A workflow spec or a template (.yaml, .yml or .json), or FILE.py:NAME for an "
        "SDK @workflow."
    ),
]


def run(
    file: RunTarget,
    input_: InputOption = None,
    input_json: InputJsonOption = None,
    watch: WatchOption = False,
    server: ServerOption = None,
    token: TokenOption = None,
    tenant: TenantOption = None,
    param: ParamOption = None,
    params_json: ParamsJsonOption = None,
) -> None:
    """Save the workflow (a new version only when it changed), run it, print its outputs as
    JSON. Exit code: 0 succeeded, 1 failed, 2 invalid workflow, parameters or inputs."""
    inputs = inputs_from(input_, input_json)
    parameters = parameters_from(param, params_json)
    sdk = SDK_TARGET.match(file)
    path = Path(sdk["path"] if sdk else file)
    if not path.is_file():
        raise typer.BadParameter(f"{path} is not a file", param_hint="FILE")
    if sdk and not sdk["name"]:
        raise typer.BadParameter("name the workflow: FILE.py:NAME", param_hint="FILE")
    document: Any = None
    source: str | None = None
    if not sdk:
        try:
            document, source = read_workflow(path)
            if is_template(document):
                document, source = filled_template(document, parameters), None
            elif parameters:
                raise typer.BadParameter(
                    "--param is for template files (with `parameters:` and `workflow:`)",
                    param_hint="--param",
                )
        except AuterityError as error:
            raise typer.Exit(report_error(error)) from None

    async def go(backend: Backend) -> int:
        if sdk:
            workflow = (await deploy_file(backend, path, sdk["name"]))[sdk["name"]]
        else:
            workflow, saved = await backend.save_workflow(document, source)
            console.print(
                f"Workflow {escape(workflow.name)!r} version {workflow.version}"
                + (" saved." if saved else " (unchanged)."),
                soft_wrap=True,
            )
        started = await backend.start_run(workflow.id, inputs)
        console.print(f"Run {started.id} started.", soft_wrap=True)
        return conclude(await follow_to_end(backend, started, watch=watch))

    raise typer.Exit(execute(Target(server, token, tenant), go))


def is_template(document: Any) -> bool:
    return isinstance(document, dict) and isinstance(document.get("workflow"), dict)


def filled_template(document: dict[str, Any], parameters: dict[str, Any]) -> dict[str, Any]:
    """The template's workflow with the parameters filled in (exit 2 on an invalid template;
    a missing or wrong parameter raises the same 422 problem the API's instantiate gives)."""
    template, report = check_template(document, default_registry())
    if template is None or report.errors:
        print_problems(report)
        raise typer.Exit(2)
    values = resolve_values(template.parameters, parameters)
    filled: dict[str, Any] = fill(template.parameters, template.workflow, values)
    return filled
