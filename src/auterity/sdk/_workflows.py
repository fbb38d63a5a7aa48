"""`@workflow`: a function run once, symbolically, to record which step results feed which
steps; the record is the workflow spec (`python.step` steps, expressions for the values)."""

from __future__ import annotations

import contextvars
import inspect
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any, overload

from pydantic import BaseModel, create_model

from auterity.sdk._steps import Step

_TRACE: contextvars.ContextVar[_Trace | None] = contextvars.ContextVar("sdk_trace", default=None)


class Ref:
    """A value known only when the workflow runs: a run input or a step's output (or part)."""

    def __init__(self, expression: str) -> None:
        self.expression = expression

    def __getitem__(self, key: str | int) -> Ref:
        index = json.dumps(key) if isinstance(key, str) else str(int(key))
        return Ref(f"{self.expression}[{index}]")

    def __repr__(self) -> str:
        return f"Ref({self.expression!r})"

    def __bool__(self) -> bool:
        raise TypeError(
            "a step's result is not known while the workflow is compiled; branch inside a step"
        )

    def template(self) -> str:
        return "{{ " + self.expression + " }}"


def current_trace() -> _Trace | None:
    return _TRACE.get()


def _value(value: Any) -> Any:
    """Arguments as spec values: refs become expressions, containers are walked."""
    if isinstance(value, Ref):
        return value.template()
    if isinstance(value, dict):
        return {str(k): _value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_value(v) for v in value]
    if isinstance(value, str) and ("{{" in value or "{%" in value):
        raise ValueError(f"a literal argument may not contain a template: {value!r}")
    return value


class _Trace:
    def __init__(self, module_ref: str) -> None:
        self.module_ref = module_ref
        self.steps: list[dict[str, Any]] = []
        self.ids: set[str] = set()

    def add(
        self, step: Step[Any, Any], args: tuple[Any, ...], kwargs: dict[str, Any], after: list[Any]
    ) -> Ref:
        bound = inspect.signature(step.fn).bind(*args, **kwargs)
        step_id = base = step.fn.__name__
        count = 1
        while step_id in self.ids:
            count += 1
            step_id = f"{base}_{count}"
        self.ids.add(step_id)
        spec: dict[str, Any] = {
            "id": step_id,
            "uses": "python.step",
            "with": {
                "function": f"{self.module_ref}:{step.fn.__qualname__}",
                "args": {name: _value(v) for name, v in bound.arguments.items()},
            },
            **step.options.spec(),
        }
        if after:
            spec["needs"] = [_step_of(ref) for ref in after]
        self.steps.append(spec)
        return Ref(f"steps.{step_id}.output")


_STEP_OF = re.compile(r"^steps\.([A-Za-z_][A-Za-z0-9_]*)\.output")


def _step_of(ref: Any) -> str:
    match = _STEP_OF.match(ref.expression) if isinstance(ref, Ref) else None
    if match is None:
        raise TypeError(f"after() takes step results, got {ref!r}")
    return match.group(1)


@contextmanager
def _tracing(module_ref: str) -> Iterator[_Trace]:
    trace = _Trace(module_ref)
    token = _TRACE.set(trace)
    try:
        yield trace
    finally:
        _TRACE.reset(token)


class Workflow:
    def __init__(self, fn: Callable[..., Any], name: str | None, description: str | None) -> None:
        self.fn = fn
        self.name = name or fn.__name__.replace("_", "-")
        self.description = description or inspect.getdoc(fn)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Outside a compile, a workflow is its function: steps run as plain calls."""
        return self.fn(*args, **kwargs)

    def inputs_schema(self) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        for name, parameter in inspect.signature(self.fn).parameters.items():
            annotation = (
                Any if parameter.annotation is inspect.Parameter.empty else parameter.annotation
            )
            default = ... if parameter.default is inspect.Parameter.empty else parameter.default
            fields[name] = (annotation, default)
        model: type[BaseModel] = create_model(f"{self.fn.__name__}_inputs", **fields)
        document = model.model_json_schema()
        document.pop("title", None)
        return document

    def compile(self, module_ref: str) -> dict[str, Any]:
        """The workflow spec, its steps calling the functions of deployed module `module_ref`."""
        parameters = inspect.signature(self.fn).parameters
        with _tracing(module_ref) as trace:
            result = self.fn(**{name: Ref(f"inputs.{name}") for name in parameters})
        if not trace.steps:
            raise ValueError(f"workflow {self.name!r} calls no @step")
        if result is None:
            outputs: dict[str, Any] = {}
        elif isinstance(result, dict):
            outputs = {str(k): _value(v) for k, v in result.items()}
        else:
            outputs = {"result": _value(result)}
        spec: dict[str, Any] = {
            "name": self.name,
            "inputs": self.inputs_schema(),
            "steps": trace.steps,
            "outputs": outputs,
        }
        if self.description:
            spec["description"] = self.description
        return spec


@overload
def workflow(fn: Callable[..., Any], /) -> Workflow: ...


@overload
def workflow(
    *, name: str | None = None, description: str | None = None
) -> Callable[[Callable[..., Any]], Workflow]: ...


def workflow(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
) -> Workflow | Callable[[Callable[..., Any]], Workflow]:
    """Mark a function that wires steps as a workflow (named after it unless `name` is given)."""
    if fn is not None:
        return Workflow(fn, name, description)

    def decorate(function: Callable[..., Any]) -> Workflow:
        return Workflow(function, name, description)

    return decorate


def workflows_in(module: ModuleType) -> dict[str, Workflow]:
    """The module's workflows, by the attribute name they are bound to."""
    return {k: v for k, v in vars(module).items() if isinstance(v, Workflow)}
