"""Find the flow function in a module with libcst, and read its docstring and flow name.

The mapping needs the docstring (for `description`) and the flow name before any
decorator is written; the decorator insertion needs the function node itself.
`NotFound` says why a function cannot take a decorator.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

import libcst as cst

from flowfleet.importer.locate import NotFound


@dataclass(frozen=True)
class FlowFunction:
    """What the importer needs to know about the flow function before mapping."""

    docstring: str | None
    flow_name: str | None  # `@flow(name="...")`, or the function's name with '-' for '_'


def inspect_function(source: str, function: str, path: str) -> FlowFunction:
    """The flow function's docstring and flow name; `NotFound` says why it is not there."""
    func = find_function(cst.parse_module(source), function, path)
    name = func.name.value.replace("_", "-")
    for decorator in func.decorators:
        call = decorator.decorator
        if isinstance(call, cst.Call) and _is_flow(call.func):
            for arg in call.args:
                if arg.keyword and arg.keyword.value == "name":
                    literal = _literal(arg.value)
                    name = literal if isinstance(literal, str) else None
    return FlowFunction(func.get_docstring(clean=True), name)


def find_function(module: cst.Module, function: str, path: str) -> cst.FunctionDef:
    """The module-level `@flow` function named `function`; `NotFound` says why not."""
    for stmt in module.body:
        if isinstance(stmt, cst.FunctionDef) and stmt.name.value == function:
            if not any(is_flow_decorator(d) for d in stmt.decorators):
                raise NotFound(f"{path}: function '{function}' has no @flow decorator")
            return stmt
    for stmt in module.body:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                targets = getattr(small, "targets", None) or [getattr(small, "target", None)]
                for t in targets:
                    node = getattr(t, "target", t)
                    if isinstance(node, cst.Name) and node.value == function:
                        raise NotFound(
                            f"{path}: '{function}' is defined dynamically (assigned, not a "
                            "function decorated with @flow), so there is nowhere to put a "
                            "decorator; rewrite it as `@flow def ...`"
                        )
    raise NotFound(f"{path}: no module-level function '{function}'")


def _is_flow(node: cst.BaseExpression) -> bool:
    if isinstance(node, cst.Name):
        return node.value == "flow"
    return isinstance(node, cst.Attribute) and node.attr.value == "flow"


def is_flow_decorator(decorator: cst.Decorator) -> bool:
    node = decorator.decorator
    return _is_flow(node.func if isinstance(node, cst.Call) else node)


def _literal(node: cst.BaseExpression) -> object:
    try:
        return ast.literal_eval(cst.Module([]).code_for_node(node))
    except (ValueError, SyntaxError):
        return None
