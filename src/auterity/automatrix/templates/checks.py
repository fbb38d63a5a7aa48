"""Checking a template document before it is published: every problem at once, with pointers."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from auterity.automatrix.actions.registry import ActionRegistry
from auterity.automatrix.templates.document import TemplateDocument
from auterity.automatrix.templates.params import (
    check_parameters,
    example_values,
    fill,
    resolve_values,
)
from auterity.automatrix.validation import Report, json_pointer, validate
from auterity.core.errors import ValidationFailed


def check_template(raw: Any, registry: ActionRegistry) -> tuple[TemplateDocument | None, Report]:
    """The parsed document (None when its shape is wrong) and the report of its problems.

    Beyond the shape: the parameter schema is valid and every parameter is used and known;
    the workflow, filled with plausible values, passes the engine's validator; each test
    case's parameters are acceptable."""
    report = Report()
    try:
        document = TemplateDocument.model_validate(raw)
    except ValidationError as exc:
        for detail in exc.errors(include_input=False):
            report.error(json_pointer(tuple(detail["loc"]), raw), detail["msg"])
        return None, report
    check_parameters(document.parameters, document.workflow, report)
    try:
        filled = fill(document.parameters, document.workflow, example_values(document.parameters))
    except ValidationFailed:
        return document, report  # an unknown parameter: already reported above
    inner = validate(filled, registry)
    for error in inner.errors:
        report.error("/workflow" + error.pointer, error.message, error.hint)
    for warning in inner.warnings:
        report.warn("/workflow" + warning.pointer, warning.message, warning.hint)
    step_ids = {
        step.get("id") for step in document.workflow.get("steps") or [] if isinstance(step, dict)
    }
    for index, case in enumerate(document.tests):
        try:
            resolve_values(document.parameters, case.parameters)
        except ValidationFailed as exc:
            for problem in exc.errors:
                report.error(f"/tests/{index}{problem.pointer}", problem.message, problem.hint)
        for name in case.responses:
            if name not in step_ids:
                report.error(
                    f"/tests/{index}/responses/{name}",
                    f"no step {name!r} in the workflow",
                    f"steps: {', '.join(sorted(str(s) for s in step_ids))}",
                )
    return document, report


def checked_template(raw: Any, registry: ActionRegistry) -> TemplateDocument:
    document, report = check_template(raw, registry)
    if document is None or report.errors:
        raise ValidationFailed(
            f"The template has {len(report.errors)} problem(s): "
            + "; ".join(f"{e.pointer}: {e.message}" for e in report.errors[:3]),
            errors=report.errors,
        )
    return document
