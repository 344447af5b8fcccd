"""Insert `@registry(DeploymentConfig(...))` decorators into a flow module with libcst.

libcst keeps every byte it does not touch (comments, blank lines, quoting), so
the diff shows the new decorators and imports and nothing else. A decorator that
is already there, compared as Python (not as text), is not added twice.
"""

from __future__ import annotations

import ast
import sys
import textwrap
from dataclasses import dataclass, field

import libcst as cst

from flowfleet.importer.locate import NotFound
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


@dataclass(frozen=True)
class FlowFunction:
    """What the importer needs to know about the flow function before mapping."""

    docstring: str | None
    flow_name: str | None  # `@flow(name="...")`, or the function's name with '-' for '_'


def decorator_source(registry: str, config: Call) -> str:
    """`@registry(DeploymentConfig(...))`, on one line when it fits."""
    flat = f"@{registry}({render(config, 0)})"
    if "\n" not in flat and len(flat) <= WIDTH:
        return flat
    return f"@{registry}(\n    {render(config, 1)}\n)"


def inspect_function(source: str, function: str, path: str) -> FlowFunction:
    """The flow function's docstring and flow name; `NotFound` says why it is not there."""
    func = _function(cst.parse_module(source), function, path)
    name = func.name.value.replace("_", "-")
    for decorator in func.decorators:
        call = decorator.decorator
        if isinstance(call, cst.Call) and _is_flow(call.func):
            for arg in call.args:
                if arg.keyword and arg.keyword.value == "name":
                    literal = _literal(arg.value)
                    name = literal if isinstance(literal, str) else None
    return FlowFunction(func.get_docstring(clean=True), name)


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
    original = func = _function(module, function, path)
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
    at = next(i for i, d in enumerate(func.decorators) if _is_flow_decorator(d))
    flow_decorator = func.decorators[at]
    decorated = func.with_changes(
        decorators=[*func.decorators[:at], *new, flow_decorator, *func.decorators[at + 1 :]]
    )
    body = [decorated if stmt is original else stmt for stmt in module.body]
    module = module.with_changes(body=body)
    imports.add((registry_module, registry_name))
    module = _add_imports(module, imports, {registry_module.split(".")[0], *first_party})
    edit.source = module.code
    return edit


def _function(module: cst.Module, function: str, path: str) -> cst.FunctionDef:
    for stmt in module.body:
        if isinstance(stmt, cst.FunctionDef) and stmt.name.value == function:
            if not any(_is_flow_decorator(d) for d in stmt.decorators):
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


def _is_flow_decorator(decorator: cst.Decorator) -> bool:
    node = decorator.decorator
    return _is_flow(node.func if isinstance(node, cst.Call) else node)


def _literal(node: cst.BaseExpression) -> object:
    try:
        return ast.literal_eval(cst.Module([]).code_for_node(node))
    except (ValueError, SyntaxError):
        return None


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


# --- imports ------------------------------------------------------------------------


def _add_imports(
    module: cst.Module, wanted: set[tuple[str, str]], first_party: set[str]
) -> cst.Module:
    """Add what is not bound yet: to an existing `from X import` line, else as a new line
    in its isort section (standard library, third party, first party: flowfleet and the
    workspace's packages), so `ruff check` stays quiet."""
    bound = _bound_names(module)
    missing: dict[str, list[str]] = {}
    for mod, name in sorted(wanted):
        if name not in bound:
            missing.setdefault(mod, []).append(name)
        elif bound[name] not in (None, mod):
            raise NotFound(
                f"'{name}' is imported from {bound[name]}, but the decorators need "
                f"`from {mod} import {name}`; rename or remove that import first"
            )
    body = list(module.body)
    for mod, names in sorted(missing.items()):
        index = _from_import_index(body, mod)
        if index is not None:
            stmt = body[index]
            old = [a.evaluated_name for a in stmt.body[0].names]  # type: ignore[attr-defined]
            line = _from_import(mod, old + names)
            body[index] = cst.parse_statement(line).with_changes(leading_lines=stmt.leading_lines)
        else:
            body = _insert_import(
                body, mod, cst.parse_statement(_from_import(mod, names)), first_party
            )
    return module.with_changes(body=body)


def _from_import(module: str, names: list[str]) -> str:
    names = sorted(dict.fromkeys(names), key=_isort_key)
    line = f"from {module} import {', '.join(names)}\n"
    if len(line) <= WIDTH + 1:
        return line
    return f"from {module} import (\n" + "".join(f"    {n},\n" for n in names) + ")\n"


def _isort_key(name: str) -> tuple[int, str]:
    """ruff's isort order inside one import: CONSTANTS, Classes, then functions."""
    kind = 0 if name.isupper() and len(name) > 1 else 1 if name[:1].isupper() else 2
    return kind, name


def _section(module: str, first_party: set[str]) -> int:
    top = module.split(".")[0]
    if top == "__future__":
        return 0
    if top in sys.stdlib_module_names:
        return 1
    return 3 if top in first_party or top.startswith("flowfleet") else 2


def _import_key(stmt: cst.BaseStatement, first_party: set[str]) -> tuple[int, int, str] | None:
    """(section, `import` before `from`, module) of a top-level import line, else None."""
    if not (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1):
        return None
    small = stmt.body[0]
    if isinstance(small, cst.Import):
        name = small.names[0].evaluated_name
        return _section(name, first_party), 0, name
    if isinstance(small, cst.ImportFrom) and not small.relative and small.module is not None:
        name = cst.Module([]).code_for_node(small.module)
        return _section(name, first_party), 1, name
    return None


def _insert_import(
    body: list[cst.BaseStatement],
    module: str,
    stmt: cst.SimpleStatementLine,
    first_party: set[str],
) -> list[cst.BaseStatement]:
    key = (_section(module, first_party), 1, module)
    keys = [_import_key(s, first_party) for s in body]
    block = [i for i, k in enumerate(keys) if k is not None]
    if not block:
        at = 1 if body and _is_docstring(body[0]) else 0
        blank = [cst.EmptyLine()] if at else []
        after = body[at:]
        if after:  # two blank lines before the code that follows, as ruff wants
            after[0] = after[0].with_changes(leading_lines=[cst.EmptyLine(), cst.EmptyLine()])
        return [*body[:at], stmt.with_changes(leading_lines=blank), *after]
    first, last = block[0], block[-1]
    contiguous = block == list(range(first, last + 1))
    if not contiguous:
        return [*body[: last + 1], stmt, *body[last + 1 :]]
    at = next((i for i in block if keys[i] > key), last + 1)  # type: ignore[operator]
    before = keys[at - 1] if at > first else None
    following = body[at] if at <= last else None
    if at == first:  # take the block's leading lines (the gap after a docstring)
        stmt = stmt.with_changes(leading_lines=body[first].leading_lines)
    elif before is not None and before[0] != key[0]:
        stmt = stmt.with_changes(leading_lines=[cst.EmptyLine()])
    new = [*body[:at], stmt]
    if following is not None:
        next_key = keys[at]
        assert next_key is not None
        comments = [line for line in following.leading_lines if line.comment is not None]
        blank = [cst.EmptyLine()] if next_key[0] != key[0] else []
        new.append(following.with_changes(leading_lines=[*blank, *comments]))
        new.extend(body[at + 1 :])
    else:
        new.extend(body[at:])
    return new


def _is_docstring(stmt: cst.BaseStatement) -> bool:
    return (
        isinstance(stmt, cst.SimpleStatementLine)
        and isinstance(stmt.body[0], cst.Expr)
        and isinstance(stmt.body[0].value, cst.SimpleString | cst.ConcatenatedString)
    )


def _bound_names(module: cst.Module) -> dict[str, str | None]:
    """Top-level names, with the module a `from X import name` binds them from."""
    names: dict[str, str | None] = {}
    for stmt in module.body:
        if isinstance(stmt, cst.FunctionDef | cst.ClassDef):
            names[stmt.name.value] = None
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if isinstance(small, cst.Import | cst.ImportFrom) and not isinstance(
                small.names, cst.ImportStar
            ):
                source = None
                if isinstance(small, cst.ImportFrom) and small.module and not small.relative:
                    source = cst.Module([]).code_for_node(small.module)
                for alias in small.names:
                    asname = alias.asname.name if alias.asname else None
                    if isinstance(asname, cst.Name):
                        names[asname.value] = "?"  # renamed: never the one we want
                    else:
                        names[alias.evaluated_name.split(".")[0]] = source
            for target in getattr(small, "targets", None) or []:
                if isinstance(target.target, cst.Name):
                    names[target.target.value] = None
    return names


def _from_import_index(body: list[cst.BaseStatement], module: str) -> int | None:
    for i, stmt in enumerate(body):
        if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1:
            small = stmt.body[0]
            if (
                isinstance(small, cst.ImportFrom)
                and not small.relative
                and not isinstance(small.names, cst.ImportStar)
                and small.module is not None
                and cst.Module([]).code_for_node(small.module) == module
                and not any(a.asname for a in small.names)
            ):
                return i
    return None
