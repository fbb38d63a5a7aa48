"""`{{ ... }}` expressions: Jinja2's sandbox, keeping native types.

A value that is one lone expression (`"{{ steps.a.output }}"`) renders to the native value
(dict, list, number); text with expressions inside renders to a string. The sandbox refuses
attribute access to internals (`__class__`, `mro`, ...) and unsafe callables.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain, islice
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, Undefined, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.nativetypes import NativeCodeGenerator, NativeTemplate
from jinja2.sandbox import ImmutableSandboxedEnvironment

_LONE = re.compile(r"^\s*\{\{(?!.*\{\{).*\}\}\s*$", re.S)


class ExpressionError(Exception):
    """An expression failed to parse or to evaluate."""

    def __init__(self, message: str, *, expression: str, line: int | None = None) -> None:
        super().__init__(message)
        self.expression = expression
        self.line = line


class _DataFirstSandbox(ImmutableSandboxedEnvironment):
    """`output.items` means the key `items` of the data, not the dict method (as users expect)."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, dict) and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)


def _lone_value(values: Iterator[Any]) -> Any:
    """The value of a lone expression, as it is: unlike Jinja's `native_concat`, a string is
    never re-parsed with `literal_eval`, so `"+15558675310"` or `"007"` stays a string."""
    head = list(islice(values, 2))
    if len(head) == 1:
        return head[0]
    return "".join(str(part) for part in chain(head, values)) if head else None


class _LoneTemplate(NativeTemplate):
    pass


class _SandboxedNativeEnvironment(_DataFirstSandbox):
    code_generator_class = NativeCodeGenerator
    concat = staticmethod(_lone_value)  # type: ignore[assignment]
    template_class = _LoneTemplate


# NativeTemplate.render concatenates with its `environment_class`'s `concat`, not the
# environment's own: point it at ours.
_LoneTemplate.environment_class = _SandboxedNativeEnvironment  # type: ignore[assignment]


class _TextEnvironment(_DataFirstSandbox):
    pass


_native = _SandboxedNativeEnvironment(undefined=StrictUndefined, autoescape=False)
_text = _TextEnvironment(undefined=StrictUndefined, autoescape=False)
for _env in (_native, _text):
    _env.filters["json"] = __import__("json").dumps


def is_expression(value: object) -> bool:
    return isinstance(value, str) and "{{" in value


@lru_cache(maxsize=4096)
def _compile(source: str, native: bool) -> Any:
    env = _native if native else _text
    try:
        return env.from_string(source)
    except TemplateSyntaxError as exc:
        raise ExpressionError(
            f"syntax error: {exc.message}", expression=source, line=exc.lineno
        ) from None


def check_syntax(source: str) -> None:
    _compile(source, bool(_LONE.match(source)))


def render_value(value: Any, context: dict[str, Any]) -> Any:
    """Render every expression inside `value` (recursively through dicts and lists)."""
    if isinstance(value, str):
        if "{{" not in value and "{%" not in value:
            return value
        native = bool(_LONE.match(value))
        template = _compile(value.strip() if native else value, native)
        try:
            result = template.render(context)
            if isinstance(result, Undefined):
                str(result)  # a lone undefined value: make StrictUndefined raise with its hint
            return result
        except SecurityError as exc:
            raise ExpressionError(f"refused by the sandbox: {exc}", expression=value) from None
        except UndefinedError as exc:
            raise ExpressionError(f"undefined: {exc.message}", expression=value) from None
        except Exception as exc:  # user expressions can raise anything (ZeroDivisionError, ...)
            raise ExpressionError(f"{type(exc).__name__}: {exc}", expression=value) from None
    if isinstance(value, dict):
        return {key: render_value(item, context) for key, item in value.items()}
    if isinstance(value, list):
        return [render_value(item, context) for item in value]
    return value


def truthy(value: Any, context: dict[str, Any]) -> bool:
    """Evaluate an `if:` condition; a bare expression without braces is accepted too."""
    source = value if is_expression(value) else "{{ " + str(value) + " }}"
    return bool(render_value(source, context))


@dataclass(frozen=True)
class Reference:
    root: str  # "steps", "inputs", "secrets", "run", "item"
    name: str | None  # steps.<name>, secrets.<name>, inputs.<name>


def _walk(node: nodes.Node) -> Iterator[Reference]:
    if isinstance(node, nodes.Getattr | nodes.Getitem) and isinstance(node.node, nodes.Name):
        key: Any = (
            node.attr if isinstance(node, nodes.Getattr) else getattr(node.arg, "value", None)
        )
        yield Reference(node.node.name, key if isinstance(key, str) else None)
    elif isinstance(node, nodes.Name) and node.ctx == "load":
        yield Reference(node.name, None)
    for child in node.iter_child_nodes():
        yield from _walk(child)


@lru_cache(maxsize=4096)
def _source_references(source: str) -> frozenset[Reference]:
    """Parsed once per source: the engine asks again for every step it runs."""
    try:
        tree = _native.parse(source)
    except TemplateSyntaxError:
        return frozenset()
    found = set(_walk(tree))
    # `steps.a` is also seen as a bare Name `steps`; keep the most specific form.
    named_roots = {ref.root for ref in found if ref.name is not None}
    return frozenset(ref for ref in found if ref.name is not None or ref.root not in named_roots)


def references(value: Any) -> set[Reference]:
    """Every `root.name` an expression inside `value` reads (for dependency inference)."""
    if isinstance(value, str):
        if "{{" not in value and "{%" not in value:
            return set()
        return set(_source_references(value))
    if isinstance(value, dict):
        return set(chain.from_iterable(references(v) for v in value.values()))
    if isinstance(value, list):
        return set(chain.from_iterable(references(v) for v in value))
    return set()


def expressions_in(value: Any, pointer: str) -> Iterator[tuple[str, str]]:
    """(JSON pointer, expression source) for every expression string inside `value`."""
    if isinstance(value, str):
        if "{{" in value or "{%" in value:
            yield pointer, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from expressions_in(
                item, f"{pointer}/{str(key).replace('~', '~0').replace('/', '~1')}"
            )
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from expressions_in(item, f"{pointer}/{index}")
