"""Insert `@registry(DeploymentConfig(...))` decorators into a flow module with libcst.

libcst keeps every byte it does not touch (comments, blank lines, quoting), so
the diff shows the new decorators and imports and nothing else. A decorator that
is already there, compared as Python (not as text), is not added twice. Finding
the flow function is `flow_function`'s job, adding the imports `imports`'s.
"""

from __future__ import annotations

import ast
import textwrap
from dataclasses import dataclass, field

import libcst as cst

from flowfleet.importer.flow_function import find_function, is_flow_decorator
from flowfleet.importer.imports import add_imports
from flowfleet.importer.pysource import WIDTH, Call, render

COMMENT_PREFIX = "# flowfleet import: "


@dataclass(frozen=True)
class NewDecorator:
    deployment: str  # its deployment name, to spot a same-named decorator that differs
    config: Call  # `DeploymentConfig(...)`
    comments: tuple[str, ...] = ()


@dataclass
class Edit:
    source: str
    added: list[str] = field(default_factory=list)  # deployment names
    unchanged: list[str] = field(default_factory=list)  # already there, identical
    conflicts: list[str] = field(default_factory=list)  # same name, other settings


def decorator_source(registry: str, config: Call) -> str:
    """`@registry(DeploymentConfig(...))`, on one line when it fits."""
    flat = f"@{registry}({render(config, 0)})"
    if "\n" not in flat and len(flat) <= WIDTH:
        return flat
    return f"@{registry}(\n    {render(config, 1)}\n)"


def add_decorators(
    source: str,
    path: str,
    function: str,
    registry: tuple[str, str],
    decorators: list[NewDecorator],
    first_party: frozenset[str] = frozenset(),
) -> Edit:
    """`source` with `decorators` above the function's `@flow`, and the imports they need.

    `registry` is (module, name) of the team's registry; `first_party` are the
    workspace's top-level packages, for import sections. Raises `NotFound`.
    """
    module = cst.parse_module(source)
    original = func = find_function(module, function, path)
    registry_module, registry_name = registry
    existing: dict[str, set[str | None]] = {}  # deployment name -> its decorators, as Python
    for decorator in func.decorators:
        code = module.code_for_node(decorator.decorator)
        name = _deployment_name(code, registry_name)
        if name is not None:
            existing.setdefault(name, set()).add(_dump(code))
    edit = Edit(source)
    new: list[cst.Decorator] = []
    imports: set[tuple[str, str]] = set()
    for wanted in decorators:
        text = decorator_source(registry_name, wanted.config)
        if wanted.deployment in existing:
            if _dump(text.removeprefix("@")) in existing[wanted.deployment]:
                edit.unchanged.append(wanted.deployment)
            else:
                edit.conflicts.append(wanted.deployment)
            continue
        node = cst.parse_module(f"{text}\ndef _():\n    pass\n").body[0].decorators[0]
        comments = [
            cst.EmptyLine(comment=cst.Comment(line))
            for comment in wanted.comments
            for line in _wrapped(comment)
        ]
        new.append(node.with_changes(leading_lines=comments))
        imports |= wanted.config.imports()
        edit.added.append(wanted.deployment)
    if not new:
        return edit
    at = next(i for i, d in enumerate(func.decorators) if is_flow_decorator(d))
    flow_decorator = func.decorators[at]
    decorated = func.with_changes(
        decorators=[*func.decorators[:at], *new, flow_decorator, *func.decorators[at + 1 :]]
    )
    body = [decorated if stmt is original else stmt for stmt in module.body]
    module = module.with_changes(body=body)
    imports.add((registry_module, registry_name))
    module = add_imports(module, imports, {registry_module.split(".")[0], *first_party})
    edit.source = module.code
    return edit


def _dump(code: str) -> str | None:
    """The expression as Python reads it, keyword order aside: equal means the same config."""
    try:
        tree = ast.parse(code.strip(), mode="eval")
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            node.keywords.sort(key=lambda k: k.arg or "")
    return ast.dump(tree)


def _deployment_name(code: str, registry_name: str) -> str | None:
    """The deployment name a `registry(DeploymentConfig(name=...))` decorator declares."""
    try:
        tree = ast.parse(code.strip(), mode="eval").body
    except SyntaxError:
        return None
    if not (
        isinstance(tree, ast.Call)
        and isinstance(tree.func, ast.Name)
        and tree.func.id == registry_name
    ):
        return None
    config = tree.args[0] if tree.args else None
    if not isinstance(config, ast.Call):
        return "default"
    for keyword in config.keywords:
        if keyword.arg == "name":
            return keyword.value.value if isinstance(keyword.value, ast.Constant) else None
    return "default"


def _wrapped(comment: str) -> list[str]:
    width = WIDTH - len(COMMENT_PREFIX)
    lines = textwrap.wrap(comment, width, break_long_words=False, break_on_hyphens=False)
    return [COMMENT_PREFIX + lines[0], *(f"#   {line}" for line in lines[1:])] if lines else []
