"""Values given on the command line: `--input k=v`, `--input-json`, `--with step.param=v`.

A value is read as JSON when it parses (`4`, `true`, `[1, 2]`, `"4"`), else as a string, so
`--input name=Ada` needs no quotes and `--input count=4` is a number.
"""

from __future__ import annotations

import json
from typing import Any

import typer


def scalar(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def json_object(text: str | None, option: str) -> dict[str, Any]:
    if text is None:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(
            f"not JSON ({exc.msg} at column {exc.colno})", param_hint=option
        ) from None
    if not isinstance(value, dict):
        raise typer.BadParameter("must be a JSON object, e.g. '{\"x\": 4}'", param_hint=option)
    return value


def _pair(item: str, option: str, example: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise typer.BadParameter(f"{item!r} is not KEY=VALUE (e.g. {example})", param_hint=option)
    return key.strip(), value


def inputs_from(pairs: list[str] | None, document: str | None) -> dict[str, Any]:
    """`--input-json` first, then each `--input k=v` over it."""
    values = json_object(document, "--input-json")
    for item in pairs or []:
        key, value = _pair(item, "--input", "--input x=4")
        values[key] = scalar(value)
    return values


def parameters_from(pairs: list[str] | None, document: str | None) -> dict[str, Any]:
    """A template's parameters: `--params-json` first, then each `--param k=v` over it."""
    values = json_object(document, "--params-json")
    for item in pairs or []:
        key, value = _pair(item, "--param", "--param threshold=50")
        values[key] = scalar(value)
    return values


def step_parameters_from(pairs: list[str] | None, document: str | None) -> dict[str, Any]:
    """`--with-json` first, then each `--with step.param=v` over it."""
    values = json_object(document, "--with-json")
    for step_id, params in values.items():
        if not isinstance(params, dict):
            raise typer.BadParameter(
                f"the parameters of step {step_id!r} must be a JSON object",
                param_hint="--with-json",
            )
    for item in pairs or []:
        key, value = _pair(item, "--with", "--with notify.message=hello")
        step_id, dot, param = key.partition(".")
        if not dot or not step_id or not param:
            raise typer.BadParameter(
                f"{key!r} is not STEP.PARAMETER (e.g. --with notify.message=hello)",
                param_hint="--with",
            )
        values.setdefault(step_id, {})[param] = scalar(value)
    return values
