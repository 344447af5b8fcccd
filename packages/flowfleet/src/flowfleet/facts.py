"""Facts first: what one command knows about the workspace, gathered once, then handed down.

Everything `resolve` needs from outside the flow code is read here, in one place:
the workspace members and their `[tool.flowfleet]` options, the environment, the
branch, the image tags (`IMAGE_TAG` applied), and each package's storage (git
storage's repository, pin and pull steps). The stages after this (`resolve`,
`make_plan`, `diff`) take these facts as data and run no git, read no environment
variable and use no network, so they are tested without a repository or a server.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flowfleet import images
from flowfleet.environments import Environment
from flowfleet.gitstorage import GitSource, package_storage
from flowfleet.problems import FlowfleetError, Problem
from flowfleet.workspace import Member, Workspace, normalise

DEFAULT_TAG = "latest"


@dataclass(frozen=True)
class Storage:
    """Where one package's runs get their code: "image", "git" or "local" (a laptop)."""

    mode: str
    pull_steps: list[dict[str, Any]] | None = None
    commit: str | None = None  # git storage: the commit the pull steps are pinned to
    problems: tuple[Problem, ...] = ()  # why the package cannot be stored as configured


@dataclass(frozen=True)
class Facts:
    """The workspace as one command sees it: plain data, no I/O left to do."""

    project: str
    environment: Environment
    known_environments: list[str]
    branch: str | None = None
    members: Mapping[str, Member] = field(default_factory=dict)
    image_tags: Mapping[str, str] = field(default_factory=dict)  # package -> tag
    default_tag: str = DEFAULT_TAG  # a package without a content tag: IMAGE_TAG or "latest"
    storage: Mapping[str, Storage] = field(default_factory=dict)  # package -> its storage
    env_file: str = ""  # the environment's file, for messages

    def member(self, package: str) -> Member | None:
        return self.members.get(normalise(package))

    def storage_of(self, package: str) -> Storage:
        """A package's storage; one not gathered is stored in the environment's way."""
        found = self.storage.get(package)
        if found is not None:
            return found
        return Storage("local" if self.environment.single_pool else "image")

    @classmethod
    def gather(
        cls,
        workspace: Workspace,
        environment: Environment,
        known_environments: list[str],
        *,
        branch: str | None = None,
        packages: Iterable[str] = (),
        environ: Mapping[str, str] | None = None,
        image_tags: Mapping[str, str] | None = None,
        git: GitSource | None = None,
    ) -> Facts:
        """Read what resolving `packages` in `environment` needs; all of this command's I/O
        before the pure stages. Image tags are computed only if a package needs resolving;
        `image_tags` and `git`, when given, are the command's own, shared with its cache."""
        environ = os.environ if environ is None else environ
        packages = sorted(set(packages))
        override = environ.get(images.IMAGE_TAG_ENV) or None
        return cls(
            project=workspace.project,
            environment=environment,
            known_environments=list(known_environments),
            branch=branch,
            members=workspace.members,
            image_tags=(
                {}
                if environment.single_pool or not packages
                else image_tags
                if image_tags is not None
                else _image_tags(workspace, environment, packages, override)
            ),
            default_tag=override or DEFAULT_TAG,
            storage=_storage(workspace, environment, packages, git),
            env_file=str(workspace.environments_dir / f"{environment.name}.toml"),
        )


def _image_tags(
    workspace: Workspace, environment: Environment, packages: list[str], override: str | None
) -> Mapping[str, str]:
    if environment.single_pool or not packages:
        return {}  # a laptop runs the working tree; nothing to resolve needs no tag
    if override:  # no hashing needed
        return {n: override for n, m in workspace.members.items() if m.is_flow_package}
    return images.image_tags(workspace)


def image_tags_for(
    workspace: Workspace,
    environment: Environment,
    packages: Iterable[str],
    environ: Mapping[str, str] | None = None,
) -> Mapping[str, str]:
    """Every flow package's image tag in `environment` (`IMAGE_TAG` wins)."""
    environ = os.environ if environ is None else environ
    override = environ.get(images.IMAGE_TAG_ENV) or None
    return _image_tags(workspace, environment, sorted(set(packages)), override)


def _storage(
    workspace: Workspace, environment: Environment, packages: list[str], git: GitSource | None
) -> dict[str, Storage]:
    """Each package's storage; git storage's pins and pull steps need git, run here only."""
    git = git or GitSource(workspace, environment)  # one per command: one `git log` a package
    found: dict[str, Storage] = {}
    for package in packages:
        try:
            mode = package_storage(workspace, environment, package)
            if mode == "git":
                found[package] = Storage(mode, git.pull_steps(package), git.commit(package))
            else:
                found[package] = Storage(mode)
        except FlowfleetError as exc:
            problems = tuple(
                Problem(p.message, package, None, "storage", p.fix) for p in exc.problems
            )
            found[package] = Storage("image", problems=problems)
    return found
