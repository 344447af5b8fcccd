"""Tie the import together: locate each deployment's flow, map it, edit its module.

Nothing is written here: the result holds each file before and after, so the CLI
can print a unified diff (the default) or write it (`--write`).
"""

from __future__ import annotations

import difflib
import fnmatch
from dataclasses import dataclass, field
from pathlib import Path

from flowfleet.environments import Environment
from flowfleet.importer.edit import NewDecorator, add_decorators
from flowfleet.importer.existing import ExistingDeployment
from flowfleet.importer.flow_function import FlowFunction, inspect_function
from flowfleet.importer.locate import Location, NotFound, Team, locate, teams
from flowfleet.importer.mapping import Target, map_deployment
from flowfleet.infra.base import InfraConfig
from flowfleet.placement import FALLBACK_INFRA
from flowfleet.problems import Problem
from flowfleet.workspace import Workspace


@dataclass
class ImportResult:
    root: Path
    files: dict[Path, tuple[str, str]] = field(default_factory=dict)  # before, after
    imported: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)  # already declared, identical
    problems: list[Problem] = field(default_factory=list)

    def diff(self) -> str:
        """The unified diff of every file the import changes, paths relative to the root."""
        chunks = []
        for path, (before, after) in sorted(self.files.items()):
            if before == after:
                continue
            shown = _relative(path, self.root)
            chunks.extend(
                difflib.unified_diff(
                    before.splitlines(keepends=True),
                    after.splitlines(keepends=True),
                    f"a/{shown}",
                    f"b/{shown}",
                )
            )
        return "".join(chunks)

    @property
    def changed(self) -> list[Path]:
        return sorted(p for p, (before, after) in self.files.items() if before != after)

    def write(self) -> None:
        for path in self.changed:
            path.write_text(self.files[path][1])


@dataclass
class _Pending:
    existing: ExistingDeployment
    location: Location
    function: FlowFunction


def import_deployments(
    existing: list[ExistingDeployment],
    workspace: Workspace,
    *,
    environment: Environment | None,
    infra_types: dict[str, type[InfraConfig]],
    bases: list[Path],
    team: Team | None = None,
    flow_glob: str | None = None,
) -> ImportResult:
    result = ImportResult(workspace.root)
    first_party = frozenset(t.registry_module.split(".")[0] for t in teams(workspace).values())
    pending: dict[tuple[Path, str], list[_Pending]] = {}
    sources: dict[Path, str] = {}
    for deployment in existing:
        if flow_glob and deployment.flow and not _matches(flow_glob, deployment, deployment.flow):
            continue
        try:
            location = locate(deployment.entrypoint, workspace, bases, team)
            source = sources.setdefault(location.path, location.path.read_text())
            function = inspect_function(
                source, location.function, _relative(location.path, workspace.root)
            )
        except NotFound as exc:
            if not flow_glob or _matches(flow_glob, deployment, deployment.flow or ""):
                result.problems.append(_not_imported(deployment, str(exc)))
            continue
        flow = deployment.flow or function.flow_name
        if flow_glob and not _matches(flow_glob, deployment, flow or ""):
            continue
        if deployment.flow and function.flow_name and function.flow_name != deployment.flow:
            result.problems.append(
                _not_imported(
                    deployment,
                    f"{location.function}() declares flow '{function.flow_name}', but the "
                    f"deployment belongs to flow '{deployment.flow}'; flowfleet would deploy "
                    "a new deployment beside it",
                    fix="give @flow the deployment's flow name, then import again",
                )
            )
            continue
        group = pending.setdefault((location.path, location.function), [])
        if any(p.existing.name == deployment.name for p in group):
            result.problems.append(
                _not_imported(deployment, "a second deployment of this flow with this name")
            )
            continue
        deployment.flow = flow  # a prefect.yaml names no flow: problems then name it
        group.append(_Pending(deployment, location, function))

    for (path, function), group in pending.items():
        decorators = []
        labels = {}
        for item in group:
            deployment, location = item.existing, item.location
            member = location.team.member
            target = Target(
                package=member.name,
                default_infra=member.options.get("default_infra")
                or (environment.default_infra if environment else None)
                or FALLBACK_INFRA,
                environment=environment,
                infra_types=infra_types,
                docstring=item.function.docstring,
            )
            mapped = map_deployment(deployment, target)
            result.problems.extend(mapped.problems)
            decorators.append(NewDecorator(deployment.name, mapped.config, tuple(mapped.comments)))
            labels[deployment.name] = deployment.label
        team_of = group[0].location.team
        try:
            edit = add_decorators(
                sources[path],
                _relative(path, workspace.root),
                function,
                (team_of.registry_module, team_of.registry_name),
                decorators,
                first_party,
            )
        except NotFound as exc:
            result.problems.extend(_not_imported(item.existing, str(exc)) for item in group)
            continue
        before = result.files.get(path, (sources[path], sources[path]))[0]
        sources[path] = edit.source
        result.files[path] = (before, edit.source)
        result.imported += [labels[n] for n in edit.added]
        result.unchanged += [labels[n] for n in edit.unchanged]
        for name in edit.conflicts:
            result.problems.append(
                Problem(
                    f"{_relative(path, workspace.root)}: {function}() already declares "
                    f"deployment '{name}' with other settings; left unchanged",
                    team_of.name,
                    labels[name],
                    fix="delete that decorator and import again, or edit it by hand",
                )
            )
    return result


def _matches(glob: str, deployment: ExistingDeployment, flow: str) -> bool:
    return fnmatch.fnmatchcase(flow, glob) or fnmatch.fnmatchcase(f"{flow}/{deployment.name}", glob)


def _not_imported(deployment: ExistingDeployment, reason: str, fix: str | None = None) -> Problem:
    return Problem(f"not imported ({deployment.origin}): {reason}", flow=deployment.label, fix=fix)


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root.resolve()))
    except ValueError:
        return str(path)
