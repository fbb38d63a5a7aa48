"""Template parameters: checking a template's use of them, and filling them in.

A `{{ ... }}` block that reads only `params` is evaluated when the template is instantiated
(natively: a lone block can yield a list or a number); blocks that read run-time values
(`inputs`, `steps`, ...) are left for the engine. A secret-typed parameter (`format: secret`)
takes the *name* of a secret and becomes `{{ secrets.NAME }}`, so the value is read from the
secret store at run time and never stored in the workflow.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import jsonschema

from auterity.automatrix.expressions import (
    ExpressionError,
    expressions_in,
    references,
    render_value,
)
from auterity.automatrix.validation import Report, did_you_mean
from auterity.core.errors import FieldError, ValidationFailed
from auterity.secrets.service import NAME_PATTERN

_BLOCK = re.compile(r"\{\{.*?\}\}", re.S)
_LONE = re.compile(r"^\s*\{\{(?!.*\{\{).*\}\}\s*$", re.S)
# Names a block may read besides `params` and still be evaluated at instantiation.
_CONSTANTS = {"true", "false", "none", "True", "False", "None"}


@dataclass(frozen=True)
class SecretRef:
    """A secret-typed parameter's value while rendering: prints as a run-time reference."""

    name: str

    def __str__(self) -> str:
        return "{{ secrets." + self.name + " }}"


def declared(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    properties = schema.get("properties") or {}
    return {name: prop for name, prop in properties.items() if isinstance(prop, dict)}


def is_secret(prop: dict[str, Any]) -> bool:
    return prop.get("format") == "secret"


def _block_roots(block: str) -> set[str]:
    return {ref.root for ref in references(block)} - _CONSTANTS


def check_parameters(parameters: dict[str, Any], workflow: Any, report: Report) -> None:
    """Report a bad parameter schema, unknown or unused parameters, and mixed blocks."""
    try:
        jsonschema.Draft202012Validator.check_schema(parameters)
    except jsonschema.SchemaError as exc:
        where = "".join(f"/{p}" for p in exc.path)
        report.error(f"/parameters{where}", f"invalid JSON Schema: {exc.message}")
        return
    if parameters.get("type", "object") != "object":
        report.error("/parameters/type", "the parameters schema must be an object")
        return
    props = declared(parameters)
    for name, prop in props.items():
        if is_secret(prop) and prop.get("type", "string") != "string":
            report.error(
                f"/parameters/properties/{name}/type",
                "a secret parameter takes a secret's name, so its type must be string",
            )
    used: set[str] = set()
    for pointer, source in expressions_in(workflow, "/workflow"):
        for block in _BLOCK.findall(source):
            roots = _block_roots(block)
            if "params" not in roots:
                continue
            if roots != {"params"}:
                others = ", ".join(sorted(roots - {"params"}))
                report.error(
                    pointer,
                    f"{block!r} mixes parameters with run-time values ({others})",
                    "use parameters and run-time values in separate {{ }} blocks",
                )
            for ref in references(block):
                if ref.root != "params":
                    continue
                if ref.name is None:
                    report.error(pointer, f"{block!r} reads `params` as a whole", "use params.NAME")
                elif ref.name not in props:
                    report.error(
                        pointer,
                        f"unknown parameter {ref.name!r} in {block!r}",
                        did_you_mean(ref.name, list(props))
                        or (f"parameters: {', '.join(props)}" if props else "declare it"),
                    )
                else:
                    used.add(ref.name)
    for name in props:
        if name not in used:
            report.error(
                f"/parameters/properties/{name}",
                f"parameter {name!r} is never used in the workflow",
                "use it as {{ params." + name + " }} or remove it",
            )


def resolve_values(parameters: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """The values with defaults applied, checked against the schema (errors name the value)."""
    props = declared(parameters)
    unknown = sorted(set(values) - set(props))
    errors = [
        FieldError(
            f"/parameters/{name}",
            f"unknown parameter {name!r}",
            did_you_mean(name, list(props)) or f"parameters: {', '.join(props) or 'none'}",
        )
        for name in unknown
    ]
    resolved = {
        name: prop["default"]
        for name, prop in props.items()
        if "default" in prop and name not in values
    }
    resolved.update({k: v for k, v in values.items() if k in props})
    validator = jsonschema.Draft202012Validator(
        parameters, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    for error in sorted(validator.iter_errors(resolved), key=lambda e: list(e.path)):
        path = "".join(f"/{p}" for p in error.absolute_path)
        if error.validator == "required":
            missing = re.findall(r"'([^']+)' is a required property", error.message)
            path = f"/{missing[0]}" if missing else path
        errors.append(FieldError(f"/parameters{path}", error.message))
    for name, prop in props.items():
        value = resolved.get(name)
        if is_secret(prop) and isinstance(value, str) and not NAME_PATTERN.fullmatch(value):
            errors.append(
                FieldError(
                    f"/parameters/{name}",
                    f"{value!r} is not a secret name",
                    "a secret parameter takes the NAME of a stored secret, not its value",
                )
            )
        if _has_expression(value):
            errors.append(
                FieldError(
                    f"/parameters/{name}",
                    "parameter values cannot contain {{ }} or {% %}",
                    "pass plain values; the template decides where expressions go",
                )
            )
    if errors:
        raise ValidationFailed(
            f"{len(errors)} parameter problem(s): "
            + "; ".join(f"{e.pointer}: {e.message}" for e in errors[:3]),
            errors=errors,
        )
    return resolved


def _has_expression(value: Any) -> bool:
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, dict):
        return any(_has_expression(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_expression(v) for v in value)
    return False


def fill(parameters: dict[str, Any], workflow: Any, values: dict[str, Any]) -> Any:
    """The workflow with every parameter block evaluated (values already resolved)."""
    props = declared(parameters)
    context = {
        "params": {
            name: SecretRef(value) if is_secret(props.get(name, {})) else value
            for name, value in values.items()
        }
    }
    return _fill(workflow, context)


def _fill(value: Any, context: dict[str, Any]) -> Any:
    if isinstance(value, dict):
        return {key: _fill(item, context) for key, item in value.items()}
    if isinstance(value, list):
        return [_fill(item, context) for item in value]
    if not isinstance(value, str) or "{{" not in value:
        return value
    if _LONE.match(value) and _block_roots(value) == {"params"}:
        result = _render(value, context)
        return str(result) if isinstance(result, SecretRef) else result

    def replace(match: re.Match[str]) -> str:
        block = match.group(0)
        if _block_roots(block) != {"params"}:
            return block
        return str(_render(block, context))

    return _BLOCK.sub(replace, value)


def _render(block: str, context: dict[str, Any]) -> Any:
    try:
        return render_value(block, context)
    except ExpressionError as exc:
        raise ValidationFailed(
            f"expression {block!r} failed with these parameters: {exc}",
            errors=[FieldError("/parameters", f"{block!r}: {exc}")],
        ) from None


def example_values(parameters: dict[str, Any]) -> dict[str, Any]:
    """Plausible values to validate the filled workflow with: the parameter's `examples`,
    default or first enum value, else one that fits its type and `format`."""
    samples: dict[str, Any] = {
        "string": "example",
        "integer": 1,
        "number": 1.0,
        "boolean": True,
        "array": [],
        "object": {},
    }
    formats = {
        "uri": "https://example.com/",
        "url": "https://example.com/",
        "email": "a@example.com",
    }
    values: dict[str, Any] = {}
    for name, prop in declared(parameters).items():
        if is_secret(prop):
            values[name] = "EXAMPLE_SECRET"
        elif prop.get("examples"):
            values[name] = prop["examples"][0]
        elif "default" in prop:
            values[name] = prop["default"]
        elif prop.get("enum"):
            values[name] = prop["enum"][0]
        elif prop.get("format") in formats:
            values[name] = formats[prop["format"]]
        else:
            kind = prop.get("type", "string")
            values[name] = samples.get(kind if isinstance(kind, str) else kind[0], "example")
    return values
