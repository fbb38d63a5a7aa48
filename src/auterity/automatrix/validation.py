"""Validate a workflow spec and report every problem at once, each with a pointer and a fix."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

import jsonschema
from pydantic import ValidationError

from auterity.automatrix.actions.registry import ActionRegistry
from auterity.automatrix.expressions import (
    ExpressionError,
    check_syntax,
    expressions_in,
    references,
)
from auterity.automatrix.graph import StepGraph
from auterity.automatrix.sandbox.usercode import compile_code
from auterity.automatrix.spec import STEP_ID, StepSpec, WorkflowSpec
from auterity.core.errors import FieldError

ROOTS = {"inputs", "steps", "run", "secrets", "item", "loop"}


@dataclass
class Report:
    spec: WorkflowSpec | None = None
    errors: list[FieldError] = field(default_factory=list)
    warnings: list[FieldError] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.errors

    def error(self, pointer: str, message: str, hint: str | None = None) -> None:
        self.errors.append(FieldError(pointer, message, hint))

    def warn(self, pointer: str, message: str, hint: str | None = None) -> None:
        self.warnings.append(FieldError(pointer, message, hint))

    def as_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "errors": [
                {"pointer": e.pointer, "message": e.message, "hint": e.hint} for e in self.errors
            ],
            "warnings": [
                {"pointer": w.pointer, "message": w.message, "hint": w.hint} for w in self.warnings
            ],
        }


def json_pointer(location: tuple[int | str, ...], raw: Any) -> str:
    parts: list[str] = []
    for part in location:
        parts.append(str(part).replace("~", "~0").replace("/", "~1"))
    return "/" + "/".join(parts)


def did_you_mean(word: str, options: list[str]) -> str | None:
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else None


_KNOWN_FIELDS = [
    "id", "uses", "with", "needs", "if", "retry", "timeout", "on_error", "for_each", "concurrency",
    "name", "description", "inputs", "steps", "outputs", "version", "max_attempts", "backoff",
    "jitter", "retry_on", "initial", "factor", "max",
]  # fmt: skip


def _shape_errors(exc: ValidationError, prefix: tuple[int | str, ...], report: Report) -> None:
    for item in exc.errors():
        loc = (*prefix, *item["loc"])
        message, hint = item["msg"], None
        if item["type"] == "extra_forbidden":
            message = f"unknown field {str(loc[-1])!r}"
            hint = did_you_mean(str(loc[-1]), _KNOWN_FIELDS) or "remove it"
        elif item["type"] == "missing":
            message = f"required field {str(loc[-1])!r} is missing"
        report.error(json_pointer(loc, None), message, hint)


def validate(raw: Any, registry: ActionRegistry) -> Report:
    """Every problem in `raw` (a parsed YAML/JSON document); `report.spec` is set when valid."""
    report = Report()
    if not isinstance(raw, dict):
        report.error(
            "",
            f"a workflow is a mapping (object), got {type(raw).__name__}",
            "start with `name:` and `steps:`",
        )
        return report
    # Parse each step on its own so one malformed step does not hide the others' problems.
    steps = raw.get("steps")
    parsed: list[StepSpec] = []
    if isinstance(steps, list):
        for index, step in enumerate(steps):
            try:
                parsed.append(StepSpec.model_validate(step))
            except ValidationError as exc:
                _shape_errors(exc, ("steps", index), report)
                if isinstance(step, dict):
                    _check_uses(step.get("uses"), f"/steps/{index}/uses", report, registry)
    try:
        document = dict(raw)
        if parsed:
            document["steps"] = [step.model_dump(by_alias=True) for step in parsed]
        spec = WorkflowSpec.model_validate(document)
    except ValidationError as exc:
        for item in exc.errors():
            if item["loc"] and item["loc"][0] == "steps" and len(item["loc"]) > 1:
                continue  # already reported per step
            _shape_errors(ValidationError.from_exception_data(exc.title, [item]), (), report)  # type: ignore[list-item]
        return report
    if report.errors:
        # Some steps did not parse: check the ones that did, without the whole-graph checks.
        _check_steps(spec, report, registry, whole=False, offsets=_offsets(steps, parsed))
        return report
    _check_steps(spec, report, registry)
    report.spec = spec if report.valid else None
    return report


def _offsets(steps: Any, parsed: list[StepSpec]) -> list[int]:
    """Original positions of the parsed steps (for pointers)."""
    positions: list[int] = []
    if isinstance(steps, list):
        for index, step in enumerate(steps):
            if isinstance(step, dict) and any(p.id == step.get("id") for p in parsed):
                positions.append(index)
    return positions


def _check_uses(uses: Any, pointer: str, report: Report, registry: ActionRegistry) -> None:
    if isinstance(uses, str) and registry.get(uses) is None:
        suggestion = registry.suggest(uses)
        report.error(
            pointer,
            f"unknown action {uses!r}",
            f"did you mean {suggestion!r}?" if suggestion else "see GET /api/actions",
        )


def _check_steps(
    spec: WorkflowSpec,
    report: Report,
    registry: ActionRegistry,
    *,
    whole: bool = True,
    offsets: list[int] | None = None,
) -> None:
    ids = [step.id for step in spec.steps]
    index_of: dict[str, int] = {}
    for position, step in enumerate(spec.steps):
        index = offsets[position] if offsets and position < len(offsets) else position
        base = f"/steps/{index}"
        if not STEP_ID.match(step.id):
            report.error(
                f"{base}/id",
                f"step id {step.id!r} is not a valid name",
                "use letters, digits and _ (not starting with a digit), e.g. fetch_orders",
            )
        if step.id in index_of:
            report.error(
                f"{base}/id",
                f"duplicate step id {step.id!r} (also at /steps/{index_of[step.id]})",
                "give each step its own id",
            )
        index_of.setdefault(step.id, index)
        action = registry.get(step.uses)
        _check_uses(step.uses, f"{base}/uses", report, registry)
        for pos, need in enumerate(step.needs):
            if need not in ids:
                report.error(
                    f"{base}/needs/{pos}", f"unknown step {need!r}", did_you_mean(need, ids)
                )
        if step.on_error not in ("fail", "continue") and step.on_error not in ids:
            report.error(
                f"{base}/on_error",
                f"{step.on_error!r} is neither fail, continue nor a step id",
                did_you_mean(step.on_error, ids) or "use fail, continue or a fallback step's id",
            )
        if step.on_error == step.id:
            report.error(f"{base}/on_error", "a step cannot be its own fallback")
        if step.concurrency is not None and step.for_each is None:
            report.warn(f"{base}/concurrency", "concurrency only applies to for_each steps")
        _check_expressions(step.templated, f"{base}/with", report, ids, step_id=step.id)
        if step.if_:
            source = step.if_ if "{{" in step.if_ else "{{ " + step.if_ + " }}"
            _check_expression_source(source, f"{base}/if", report, ids, step_id=step.id)
        if isinstance(step.for_each, str):
            _check_expression_source(
                step.for_each, f"{base}/for_each", report, ids, step_id=step.id
            )
        if action is not None:
            _check_parameters(action.Input, step.with_, f"{base}/with", report)
        if step.uses == "code.python":
            _check_code(step.with_, f"{base}/with/code", report)
    _check_expressions(spec.outputs, "/outputs", report, ids, step_id=None)
    try:
        jsonschema.Draft202012Validator.check_schema(spec.inputs)
    except jsonschema.SchemaError as exc:
        report.error(
            "/inputs" + "".join(f"/{p}" for p in exc.path), f"invalid JSON Schema: {exc.message}"
        )
    if whole and len(set(ids)) == len(ids):
        cycle = StepGraph.build(spec).find_cycle()
        if cycle:
            report.error(
                f"/steps/{index_of[cycle[0]]}/needs",
                "dependency cycle: " + " -> ".join(cycle),
                "remove one of these dependencies (needs or steps.<id> references)",
            )
        _check_unused(spec, report)


def _check_expressions(
    value: Any, pointer: str, report: Report, ids: list[str], step_id: str | None
) -> None:
    for where, source in expressions_in(value, pointer):
        _check_expression_source(source, where, report, ids, step_id)


def _check_expression_source(
    source: str, pointer: str, report: Report, ids: list[str], step_id: str | None
) -> None:
    try:
        check_syntax(source)
    except ExpressionError as exc:
        report.error(
            pointer,
            f"expression {source!r}: {exc} (line {exc.line})",
            "expressions look like {{ steps.fetch.output.body }}",
        )
        return
    for ref in references(source):
        if ref.root == "steps" and ref.name is not None and ref.name not in ids:
            report.error(
                pointer, f"unknown step {ref.name!r} in {source!r}", did_you_mean(ref.name, ids)
            )
        elif ref.root == "steps" and ref.name == step_id:
            report.error(
                pointer, f"step {step_id!r} refers to its own output", "use an earlier step"
            )
        elif (
            ref.root not in ROOTS and ref.name is None and ref.root not in ("true", "false", "none")
        ):
            report.warn(
                pointer,
                f"{ref.root!r} is not defined in expressions",
                did_you_mean(ref.root, sorted(ROOTS)) or f"available: {', '.join(sorted(ROOTS))}",
            )


def _check_parameters(
    model: type[Any], params: dict[str, Any], pointer: str, report: Report
) -> None:
    """Validate the literal parameters; values that are expressions are checked at run time."""
    if any(isinstance(v, str) and "{{" in v for v in params.values()):
        literal = {k: v for k, v in params.items() if not (isinstance(v, str) and "{{" in v)}
        dynamic = set(params) - set(literal)
    else:
        literal, dynamic = params, set()
    try:
        model.model_validate(literal)
    except ValidationError as exc:
        for item in exc.errors():
            loc = tuple(item["loc"])
            if item["type"] == "missing" and loc and loc[0] in dynamic:
                continue
            if loc and loc[0] in dynamic:
                continue
            if not loc and dynamic:
                continue  # a rule across fields, some of them only known at run time
            hint = None
            message = f"{item['msg']} (got {item.get('input')!r})"
            if item["type"] == "extra_forbidden":
                message = f"unknown parameter {str(loc[-1])!r}"
                hint = did_you_mean(str(loc[-1]), list(model.model_fields)) or (
                    f"parameters: {', '.join(model.model_fields)}"
                )
            elif item["type"] == "missing":
                message = f"required parameter {str(loc[-1])!r} is missing"
                hint = f"parameters: {', '.join(model.model_fields)}"
            report.error(json_pointer((*_split(pointer), *loc), None), message, hint)


def _check_code(params: dict[str, Any], pointer: str, report: Report) -> None:
    """A syntax error in a code step's literal code, at its line and column in that code."""
    code, inputs = params.get("code"), params.get("inputs")
    if not isinstance(code, str):
        return
    try:
        compile_code(code, inputs if isinstance(inputs, dict) else ())
    except SyntaxError as exc:
        report.error(
            pointer,
            f"syntax error at line {exc.lineno}, column {exc.offset} of the code: {exc.msg}",
            (exc.text or "").rstrip() or None,
        )


def _split(pointer: str) -> tuple[str, ...]:
    return tuple(part for part in pointer.split("/") if part)


def _check_unused(spec: WorkflowSpec, report: Report) -> None:
    graph = StepGraph.build(spec)
    consumed = set().union(*graph.dependencies.values()) | set(graph.fallbacks.values())
    consumed |= {ref.name for ref in references(spec.outputs) if ref.root == "steps" and ref.name}
    if spec.outputs:
        for index, step in enumerate(spec.steps):
            if step.id not in consumed and step.uses not in ("log", "delay", "fail"):
                report.warn(
                    f"/steps/{index}",
                    f"the result of step {step.id!r} is not used by any step or output",
                    "reference it in outputs, or ignore this if it runs for its effect",
                )
