"""Problems for machines: JSON objects, and GitHub Actions `::error` workflow commands.

In a workflow run (`GITHUB_ACTIONS=true`) an `::error file=F,line=N::message` line on
stdout becomes an annotation on that line of the pull request's diff, so a bad
decorator or a bad environment file is flagged where it was written.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flowfleet import secrets
from flowfleet.problems import Problem


def in_github_actions() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"


def repo_path(file: str, root: Path) -> str:
    """`file` relative to the repository root, as GitHub names files in a diff."""
    path = Path(file)
    path = (path if path.is_absolute() else Path.cwd() / path).resolve()
    try:
        return path.relative_to(root.resolve()).as_posix()
    except ValueError:
        return file


def problem_json(problem: Problem, root: Path) -> dict[str, Any]:
    """One problem: package, flow, field, message, fix, and file/line when known."""
    file, line = problem.location
    return {
        "package": problem.package,
        "flow": problem.flow,
        "field": problem.field,
        "message": secrets.scrub(problem.message),
        "fix": problem.fix,
        "file": repo_path(file, root) if file else None,
        "line": line,
        "text": secrets.scrub(str(problem)),
    }


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def workflow_command(problem: Problem, root: Path) -> str:
    """`::error file=...,line=...,title=...::message`; without a file, a plain `::error::`."""
    data = problem_json(problem, root)
    properties = []
    if data["file"]:
        properties.append(f"file={_escape_property(data['file'])}")
        if data["line"]:
            properties.append(f"line={data['line']}")
    title = " ".join(p for p in ("flowfleet", data["package"], data["flow"]) if p)
    properties.append(f"title={_escape_property(title)}")
    message = data["message"]
    if data["field"]:
        message = f"field '{data['field']}': {message}"
    if data["fix"]:
        message += f" (fix: {data['fix']})"
    return f"::error {','.join(properties)}::{_escape_data(message)}"
