"""Find the source file and team package of a deployment's entrypoint.

An entrypoint is `path/to/file.py:function` (relative to where `prefect deploy`
ran) or `package.module:function`. Only files inside a workspace member that is a
flowfleet team package (it names its registry in `[project.entry-points.flowfleet]`)
can be imported into.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flowfleet.observed import module_entrypoint
from flowfleet.workspace import Member, Workspace


@dataclass(frozen=True)
class Team:
    member: Member
    folder: Path  # the member's folder, absolute
    registry_module: str  # e.g. "sales_flows"
    registry_name: str  # e.g. "registry"

    @property
    def name(self) -> str:
        return self.member.name


@dataclass(frozen=True)
class Location:
    path: Path
    function: str
    team: Team


class NotFound(Exception):
    """The reason a deployment's flow cannot be imported, as one line."""


def teams(workspace: Workspace) -> dict[str, Team]:
    """Workspace members that are team packages, by distribution name."""
    found = {}
    for name, member in workspace.members.items():
        for value in member.entry_points.values():
            module, _, attr = str(value).partition(":")
            if attr and not module.startswith("flowfleet"):
                found[name] = Team(member, workspace.root / member.path, module, attr)
                break
    return found


def find_team(workspace: Workspace, name: str) -> Team | None:
    """A team by distribution name (`sales-flows`), short name (`sales`) or folder."""
    known = teams(workspace)
    for team in known.values():
        if name in (team.name, team.name.removesuffix("-flows"), team.folder.name):
            return team
    return None


def locate(
    entrypoint: str | None,
    workspace: Workspace,
    bases: list[Path],
    team: Team | None = None,
) -> Location:
    """Where the flow function lives; `bases` are the folders a relative path may start
    from (the prefect.yaml's folder, the workspace root). Raises `NotFound`."""
    spelled = module_entrypoint(entrypoint)
    if not spelled or ":" not in spelled:
        raise NotFound(f"entrypoint {entrypoint!r} is not `path.py:function` or `module:function`")
    target, _, function = spelled.rpartition(":")
    if "." in function or not function.isidentifier():
        raise NotFound(f"entrypoint {entrypoint!r}: '{function}' is not a module-level function")
    path = _file(target, workspace, bases + ([team.folder] if team else []))
    if path is None:
        raise NotFound(f"entrypoint {entrypoint!r}: no such file in the workspace")
    members = teams(workspace)
    holder = next((t for t in members.values() if path.is_relative_to(t.folder.resolve())), None)
    if holder is None:
        other = next(
            (
                m
                for m in workspace.members.values()
                if path.is_relative_to((workspace.root / m.path).resolve())
            ),
            None,
        )
        if other is not None:
            raise NotFound(
                f"{_shown(path, workspace)} is in workspace member '{other.name}', which is not "
                "a flowfleet team package (no [project.entry-points.flowfleet]); "
                "create one with `flowfleet new TEAM` and move the flow there"
            )
        raise NotFound(f"{_shown(path, workspace)} is outside the workspace's team packages")
    if team is not None and holder.name != team.name:
        raise NotFound(
            f"{_shown(path, workspace)} belongs to team '{holder.name}', not '{team.name}'"
        )
    return Location(path, function, holder)


def _file(target: str, workspace: Workspace, bases: list[Path]) -> Path | None:
    if target.endswith(".py"):
        candidates = [Path(target)] if Path(target).is_absolute() else [b / target for b in bases]
    else:  # a module path: look in each member's src/ layout and flat layout
        parts = target.split(".")
        candidates = [
            root / Path(*parts[:-1]) / f"{parts[-1]}.py"
            for m in workspace.members.values()
            for root in (workspace.root / m.path / "src", workspace.root / m.path)
        ] + [
            root / Path(*parts) / "__init__.py"
            for m in workspace.members.values()
            for root in (workspace.root / m.path / "src", workspace.root / m.path)
        ]
    return next((c.resolve() for c in candidates if c.is_file()), None)


def _shown(path: Path, workspace: Workspace) -> str:
    try:
        return str(path.relative_to(workspace.root.resolve()))
    except ValueError:
        return str(path)
