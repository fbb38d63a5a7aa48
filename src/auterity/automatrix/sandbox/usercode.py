"""A step's `code` as a callable `main`: either a module that defines `main(**inputs)`, or a
function body whose inputs are its keyword arguments (and `inputs`, the dict of them all).

Standard library only: the sandbox's zygote loads this file by path, without the platform.
Line numbers stay those of the user's text, in syntax errors and in tracebacks alike.
"""

from __future__ import annotations

import ast
import keyword
import sys
from collections.abc import Iterable
from types import CodeType

FILENAME = "<code>"
ENTRY = "main"


def defines_main(tree: ast.Module) -> bool:
    return any(
        isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == ENTRY
        for node in tree.body
    )


def parameter_names(names: Iterable[str]) -> list[str]:
    """Input names usable as parameters of a function body (the rest stay in `inputs`)."""
    return sorted(
        name
        for name in names
        if name.isidentifier() and not keyword.iskeyword(name) and name != "inputs"
    )


def compile_code(code: str, input_names: Iterable[str] = ()) -> tuple[CodeType, bool]:
    """(module code object, whether `main` takes `inputs` first). Raises SyntaxError with the
    line and column inside `code`."""
    tree = ast.parse(code, FILENAME)
    if defines_main(tree):
        return compile(tree, FILENAME, "exec", dont_inherit=True), False
    # A function body: `def main(inputs, /, *, a, b): <body>`; the body keeps its own lines.
    names = parameter_names(input_names)
    arguments = ast.arguments(
        posonlyargs=[ast.arg(arg="inputs")],
        args=[],
        vararg=None,
        kwonlyargs=[ast.arg(arg=name) for name in names],
        kw_defaults=[None for _ in names],
        kwarg=None,
        defaults=[],
    )
    body = tree.body or [ast.Pass()]
    function = ast.FunctionDef(
        name=ENTRY, args=arguments, body=body, decorator_list=[], returns=None
    )
    if sys.version_info >= (3, 12):
        function.type_params = []
    function.lineno, function.col_offset = 1, 0
    module = ast.Module(body=[function], type_ignores=[])
    ast.fix_missing_locations(module)
    return compile(module, FILENAME, "exec", dont_inherit=True), True
