"""Git storage: deployments whose runs clone the repository instead of using a per-package image.

A package chooses `storage = "git"` in its `[tool.flowfleet]`, or an environment does in its
TOML file; the package's choice wins, and the default is `"image"`. A `single_pool`
environment (a laptop) runs the working tree's own code whatever the choice: its storage is
`"local"`.

A git-mode deployment carries two pull steps, run by the worker in the flow-run process
before the entrypoint is imported:

1. `prefect.deployments.steps.git_clone`: the environment's `git_repository` (default: the
   `origin` remote, without any credentials in it), pinned with `commit_sha`, sparse-checked
   out to the package's own folder and those of its workspace dependencies, with
   credentials templated from a block named in the environment file
   (`{{ prefect.blocks.secret.NAME }}`), never inline;
2. `flowfleet.gitstorage.add_source_paths`: puts each cloned package's `src/` (or its
   folder, in a flat layout) first on `sys.path`, so the module-path entrypoint imports
   the cloned code. This changes only that run's process: nothing is installed into the
   worker's environment, no network is used, and concurrent runs at different commits
   never meet. Third-party dependencies come from the runtime (`base_image`), as does
   flowfleet itself, which is why the `flowfleet` package is never cloned.

Pinning: each package is pinned to the last commit that changed a folder it clones
(`git log -1 HEAD -- <folders>`), where HEAD is `FLOWFLEET_COMMIT`, else `GITHUB_SHA`, else
the checkout's HEAD. That commit holds exactly the code at HEAD for those folders, so a run
never picks up code that was not deployed, and a commit elsewhere in the repository does not
touch this package's deployments. On a branch, HEAD is the branch's commit, so branch
deployments pull their own branch's code. A shallow CI checkout pins to HEAD itself, which
is just as safe but changes on every commit: fetch the full history to avoid that.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from flowfleet.environments import Environment
from flowfleet.problems import FlowfleetError, Problem
from flowfleet.workspace import Member, Workspace, normalise, workspace_closure

STORAGE_MODES = ("image", "git")
COMMIT_VARS = ("FLOWFLEET_COMMIT", "GITHUB_SHA")
CLONE_STEP = "prefect.deployments.steps.git_clone"
PATH_STEP = "flowfleet.gitstorage.add_source_paths"
CLONE_ID = "clone"
RUNTIME_PACKAGES = frozenset({"flowfleet"})  # the framework: always provided by the runtime


def package_storage(workspace: Workspace, environment: Environment, package: str) -> str:
    """The storage mode of `package` in `environment`: the package's choice, else the
    environment's. Raises a one-line problem for a value that is not a mode."""
    if environment.single_pool:
        return "local"
    member = workspace.member(package)
    value = member.options.get("storage") if member else None
    if value is None:
        return environment.storage
    if value not in STORAGE_MODES:
        where = f"{member.path}/pyproject.toml" if member else package
        raise FlowfleetError(
            Problem(
                f"{where}: [tool.flowfleet] storage = {value!r} is not a storage mode "
                f"(allowed: {', '.join(STORAGE_MODES)})",
                package=package,
            )
        )
    return value


def describe(pull_steps: list[dict[str, Any]] | None) -> tuple[str, str | None]:
    """(storage, commit) as read from a deployment's pull steps."""
    for step in pull_steps or []:
        if CLONE_STEP in step:
            return "git", step[CLONE_STEP].get("commit_sha")
    return "image", None


class GitSource:
    """Where git-storage deployments of one environment clone from, worked out on first use."""

    def __init__(self, workspace: Workspace, environment: Environment) -> None:
        self.workspace = workspace
        self.environment = environment
        self._pins: dict[str, str] = {}

    @property
    def env_file(self) -> Path:
        return self.workspace.environments_dir / f"{self.environment.name}.toml"

    @cached_property
    def repository(self) -> str:
        if self.environment.git_repository:
            return self.environment.git_repository
        origin = _git(self.workspace.root, "remote", "get-url", "origin")
        if not origin:
            raise FlowfleetError(
                Problem(
                    f"git storage needs a repository to clone, and {self.workspace.root} "
                    "has no `origin` remote",
                    fix=f"set git_repository in {self.env_file}",
                )
            )
        return strip_credentials(origin)

    @cached_property
    def head(self) -> str:
        """The commit being deployed."""
        wanted = next((os.environ[v] for v in COMMIT_VARS if os.environ.get(v)), "HEAD")
        sha = _git(self.workspace.root, "rev-parse", "--verify", "--quiet", f"{wanted}^{{commit}}")
        if not sha:
            raise FlowfleetError(
                Problem(
                    f"git storage pins deployments to a commit, and '{wanted}' is not one in "
                    f"{self.workspace.root}",
                    fix="deploy from a git checkout with at least one commit, or set "
                    "FLOWFLEET_COMMIT to a commit of it",
                )
            )
        return sha

    @property
    def _members(self) -> dict[str, Member]:
        return self.workspace.members

    def folders(self, package: str) -> list[str]:
        """The workspace folders a package's runs clone: its own and its workspace deps'."""
        members = self._members
        return [
            members[name].path
            for name in workspace_closure(normalise(package), members)
            if name not in RUNTIME_PACKAGES
        ]

    def commit(self, package: str) -> str:
        """The last commit up to `head` that changed a folder the package clones."""
        if package not in self._pins:
            folders = self.folders(package)
            sha = _git(self.workspace.root, "log", "-1", "--format=%H", self.head, "--", *folders)
            self._pins[package] = sha or self.head
        return self._pins[package]

    def credentials(self) -> dict[str, str]:
        """The clone step's credential input: a template the worker resolves, never a value."""
        block = self.environment.git_credentials_block
        if not block:
            return {}
        if "/" in block:
            block_type, name = block.split("/", 1)
            return {"credentials": f"{{{{ prefect.blocks.{block_type}.{name} }}}}"}
        return {"access_token": f"{{{{ prefect.blocks.secret.{block} }}}}"}

    def pull_steps(self, package: str) -> list[dict[str, Any]]:
        folders = self.folders(package)
        if not folders:
            raise FlowfleetError(
                Problem(
                    f"git storage clones workspace folders, and {package} is not a member "
                    f"of the workspace at {self.workspace.root}",
                    fix='set storage = "image" for it (in its [tool.flowfleet]) or make it '
                    "a workspace member",
                )
            )
        clone: dict[str, Any] = {
            "id": CLONE_ID,
            "repository": self.repository,
            "commit_sha": self.commit(package),
            **self.credentials(),
        }
        clone["directories"] = folders
        return [
            {CLONE_STEP: clone},
            {PATH_STEP: {"directory": f"{{{{ {CLONE_ID}.directory }}}}", "folders": folders}},
        ]

    def uncommitted(self, packages: Iterable[str]) -> dict[str, list[str]]:
        """Package -> its changed or untracked files that the pinned commit would not hold."""
        found: dict[str, list[str]] = {}
        for package in sorted(set(packages)):
            folders = self.folders(package)
            if not folders:
                continue
            out = _git(
                self.workspace.root,
                "status",
                "--porcelain",
                "--untracked-files=all",
                "--",
                *folders,
            )
            if out:
                found[package] = [line[3:] for line in out.splitlines()]
        return found


def strip_credentials(url: str) -> str:
    """`https://user:token@host/x.git` -> `https://host/x.git` (CI checkouts may embed one)."""
    parts = urlsplit(url)
    if parts.scheme and "@" in parts.netloc:
        return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))
    return url


def check_committed(source: GitSource, packages: Iterable[str]) -> None:
    """Refuse to deploy git-storage packages whose working tree differs from their commit."""
    dirty = source.uncommitted(packages)
    if dirty:
        raise FlowfleetError(
            *(
                Problem(
                    f"git storage deploys committed code, and {len(files)} file(s) differ from "
                    f"commit {source.commit(package)[:12]}: {', '.join(files[:3])}"
                    + (" ..." if len(files) > 3 else ""),
                    package=package,
                    fix="commit (and push) them, or discard them, then deploy again",
                )
                for package, files in dirty.items()
            )
        )


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


# --- the pull step the worker runs ---------------------------------------------------------


def add_source_paths(directory: str, folders: list[str]) -> dict[str, Any]:
    """Pull step: put each cloned package's import root first on this process's `sys.path`.

    `directory` is the clone (the `git_clone` step's output), `folders` the package folders
    inside it. A folder with a `src/` contributes that, else itself (a flat layout).
    """
    import importlib

    clone = Path(directory).resolve()
    added = []
    for folder in reversed(folders):
        root = clone / folder
        if not root.is_dir():
            raise FileNotFoundError(f"{folder} is not in the clone at {clone}")
        path = str(root / "src" if (root / "src").is_dir() else root)
        if path in sys.path:
            sys.path.remove(path)
        sys.path.insert(0, path)
        added.append(path)
    importlib.invalidate_caches()
    return {"source_paths": added[::-1]}
