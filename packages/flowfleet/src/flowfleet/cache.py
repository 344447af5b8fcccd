"""A per-package cache of resolved deployments, so unchanged packages need no import.

Importing a fleet costs `import prefect` plus every `@flow` decoration: seconds at
a thousand flows, for a plan that usually finds nothing to do. A package's
resolution depends only on its own files, the shared workspace code (core and
plugins), the lock, the environment file and a few variables, so that is the key.
A package is cached only after it loaded and resolved without a problem.
Set FLOWFLEET_NO_CACHE=1 to bypass it.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections import defaultdict
from pathlib import Path

from flowfleet.desired import DesiredDeployment
from flowfleet.environments import Environment
from flowfleet.gitstorage import GitSource, package_storage
from flowfleet.images import DOCKERFILE, LOCK_FILE
from flowfleet.loader import Fleet
from flowfleet.problems import FlowfleetError
from flowfleet.resolve import Resolution
from flowfleet.secrets import mask
from flowfleet.workspace import Workspace, workspace_closure

CACHE_VERSION = "2"
# Variables that can change what a package resolves to.
KEYED_VARIABLES = (
    "IMAGE_TAG",
    "FLOWFLEET_BRANCH",
    "GITHUB_HEAD_REF",
    "GITHUB_REF_NAME",
    "CI_COMMIT_REF_NAME",
)


def holds_secrets(deployment: DesiredDeployment) -> bool:
    data = {"job_variables": deployment.job_variables, "parameters": deployment.parameters}
    return mask(data) != data


def enabled() -> bool:
    return os.environ.get("FLOWFLEET_NO_CACHE", "") in ("", "0", "false")


class ResolveCache:
    """Cached deployments of one environment, one JSON file per package."""

    def __init__(
        self,
        workspace: Workspace,
        environment: Environment,
        branch: str | None,
        plugin_versions: dict[str, str | None],
        git: GitSource | None = None,
    ):
        self.folder = (
            Path(os.environ.get("FLOWFLEET_CACHE_DIR") or workspace.root / ".state" / "cache")
            / "resolve"
            / environment.name
        )
        self.tree = workspace.tree
        members = workspace.members
        shared = hashlib.sha256()
        shared.update(f"v{CACHE_VERSION} {sys.version}\n".encode())
        shared.update(environment.model_dump_json().encode())
        shared.update(
            json.dumps(
                [
                    branch,
                    {v: os.environ.get(v) for v in KEYED_VARIABLES},
                    sorted(plugin_versions.items(), key=str),
                ]
            ).encode()
        )
        for path in (LOCK_FILE, DOCKERFILE):  # both feed the content-addressed image tags
            shared.update(f"{path} {self.tree.blob(path) or '-'}\n".encode())
        for member in sorted(members.values(), key=lambda m: m.name):
            if not member.is_flow_package:  # the core and plugins shape every package
                shared.update(self._files(member.path).encode())
        self._members = members
        self._shared = shared.hexdigest()
        self._workspace = workspace
        self._environment = environment
        self._git = git or GitSource(workspace, environment)

    def _files(self, folder: str) -> str:
        return "".join(f"{p} {b}\n" for p, b in sorted(self.tree.under(folder).items()))

    def key(self, package: str) -> str | None:
        if package not in self._members:
            return None  # not a workspace member: no files to key it by
        digest = hashlib.sha256(self._shared.encode())
        for member in workspace_closure(package, self._members):
            digest.update(self._files(self._members[member].path).encode())
        try:  # git storage: the pin is a commit, which no file content tells
            if package_storage(self._workspace, self._environment, package) == "git":
                digest.update(f"git {self._git.repository} {self._git.commit(package)}".encode())
        except FlowfleetError:
            return None  # resolving reports it; never cache around it
        return digest.hexdigest()

    def _file(self, package: str) -> Path:
        return self.folder / f"{package}.json"

    def lookup(self, package_names: list[str]) -> dict[str, list[DesiredDeployment]]:
        """Cached deployments of every package whose key still matches."""
        hits: dict[str, list[DesiredDeployment]] = {}
        for package in package_names:
            key = self.key(package)
            try:
                data = json.loads(self._file(package).read_text())
            except (OSError, ValueError):
                continue
            if key is None or data.get("key") != key:
                continue
            hits[package] = [DesiredDeployment.model_validate(d) for d in data["deployments"]]
        return hits

    def store(self, resolution: Resolution, fleet: Fleet) -> None:
        """Remember every package that loaded and resolved cleanly in this run."""
        troubled = {p.package for p in resolution.problems} | fleet.failed_packages
        if "*" in troubled or None in troubled:
            return
        by_package: dict[str, list[DesiredDeployment]] = defaultdict(list)
        for deployment in resolution.deployments:
            by_package[deployment.package].append(deployment)
        self.folder.mkdir(parents=True, exist_ok=True)
        for package in fleet.loaded_packages - troubled:
            key = self.key(package)
            if key is None:
                continue
            deployments = by_package.get(package, [])
            if any(holds_secrets(d) for d in deployments):
                self._file(package).unlink(missing_ok=True)
                continue  # secret values are sent to the server, never written to a file
            for deployment in deployments:
                deployment.flow_parameter_schema()
            payload = {"key": key, "deployments": [d.model_dump(mode="json") for d in deployments]}
            tmp = self._file(package).with_suffix(".tmp")
            tmp.write_text(json.dumps(payload))
            tmp.replace(self._file(package))
