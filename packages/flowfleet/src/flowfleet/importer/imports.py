"""Add `from X import name` lines to a module with libcst, as ruff's isort would place them.

The decorators the importer writes need their names imported; this puts each on an
existing `from X import` line or in its isort section, so `ruff check` stays quiet,
and refuses when the name is already bound to something else.
"""

from __future__ import annotations

import sys

import libcst as cst

from flowfleet.importer.locate import NotFound
from flowfleet.importer.pysource import WIDTH


def add_imports(
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
