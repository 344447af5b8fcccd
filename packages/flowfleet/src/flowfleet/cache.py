"""A per-package cache of resolved deployments, so unchanged packages need no import.

Importing a fleet costs `import prefect` plus every `@flow` decoration: seconds at
a thousand flows, for a plan that usually finds nothing to do. A cached package is
reused only when everything its resolution read is unchanged, checked by content
on the filesystem (no git):

- every file of every module imported while it loaded, wherever it lives (workspace
  members, editable path dependencies, git-ignored, `build/` or `dist/` folders),
  recorded as it imported (imports.py), and where each top-level name is found now;
- every file under its source folder, imported or not (the registry imports every
  module of its package, so a new module is a new input);
- its workspace member's folder and `[tool.flowfleet]`; the root's `[tool.flowfleet]`
  and project name; the environment file's bytes and the known environment names;
- flowfleet's own files, every non-flow workspace member, every plugin's imported
  files and version, the installed distributions and the interpreter;
- the branch, the variables in KEYED_VARIABLES, the package's image tag when its
  deployments carry one, and the commit a git-storage package is pinned to.

A package is cached only after it loaded and resolved without a problem, in a process
that recorded its imports from before the plugins loaded. Pruning never trusts this
cache: the packages of deployments about to be deleted are resolved afresh first
(`Session.refresh`). Set FLOWFLEET_NO_CACHE=1 to bypass it.
"""

from __future__ import annotations

import hashlib
import json
import os
import tomllib
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path

from pydantic_core import from_json

import flowfleet
from flowfleet import atomic_file, imports, read_scope
from flowfleet.desired import DesiredDeployment
from flowfleet.environments import Environment
from flowfleet.gitstorage import GitSource, package_storage
from flowfleet.loader import Fleet
from flowfleet.problems import FlowfleetError
from flowfleet.resolve import Resolution
from flowfleet.secrets import holds_secrets as _holds
from flowfleet.workspace import Workspace, normalise

CACHE_VERSION = "3"
# Variables that can change what a package resolves to.
KEYED_VARIABLES = (
    "IMAGE_TAG",
    "FLOWFLEET_BRANCH",
    "FLOWFLEET_COMMIT",
    "GITHUB_SHA",
    "GITHUB_HEAD_REF",
    "GITHUB_REF_NAME",
    "CI_COMMIT_REF_NAME",
)
# Never inputs of a member folder's key unless imported (then imports.closure has them).
MEMBER_SKIP = frozenset({"__pycache__", ".git", ".venv", ".tox", "node_modules"})
_DOCKERFILE = "infra/docker/Dockerfile"


def holds_secrets(deployment: DesiredDeployment) -> bool:
    """Any secret in what the cache would write: values, URLs with credentials (a git
    repository), and parameter defaults; the schema's secret-named properties alone are
    not secrets."""
    data = deployment.model_dump(mode="json", exclude={"parameter_schema"})
    properties = (deployment.parameter_schema or {}).get("properties") or {}
    defaults = {name: p.get("default") for name, p in properties.items() if isinstance(p, dict)}
    return _holds(data) or _holds(defaults)


def enabled() -> bool:
    return os.environ.get("FLOWFLEET_NO_CACHE", "") in ("", "0", "false")


def keyed(plugins: object | None) -> bool:
    """Whether what a session makes may be kept on disk: the cache is on and the plugins
    are the installed ones. In-process plugin sets (tests) have no files to key it by."""
    return enabled() and plugins is None


def root(workspace: Workspace) -> Path:
    """Every cache's folder: FLOWFLEET_CACHE_DIR, else the workspace's `.state/cache`."""
    return Path(os.environ.get("FLOWFLEET_CACHE_DIR") or workspace.root / ".state" / "cache")


def folder(workspace: Workspace, environment: str) -> Path:
    return root(workspace) / "resolve" / environment


class ResolveCache:
    """Cached deployments of one environment, one JSON file per package.

    `modules` maps each package (distribution name) to its importable top-level
    module; `plugin_modules` are the modules of every plugin that is not a registry.
    """

    def __init__(
        self,
        workspace: Workspace,
        environment: Environment,
        branch: str | None,
        *,
        modules: Mapping[str, str],
        plugin_versions: Mapping[str, str | None],
        plugin_modules: list[str] = (),  # type: ignore[assignment]
        known_environments: list[str] = (),  # type: ignore[assignment]
        image_tags: Mapping[str, str] | None = None,
        git: GitSource | None = None,
    ):
        self.folder = folder(workspace, environment.name)
        self._workspace = workspace
        self._environment = environment
        self._modules = dict(modules)
        self._image_tags = image_tags if image_tags is not None else {}  # lazy: not read here
        self._git = git or GitSource(workspace, environment)
        self._keys: dict[str, str | None] = {}
        self._hash_file = workspace.tree.sha256  # one read per file, shared with image tags
        self._shared = self._shared_key(
            branch, plugin_versions, plugin_modules, list(known_environments)
        )

    def _shared_key(
        self,
        branch: str | None,
        plugin_versions: Mapping[str, str | None],
        plugin_modules: list[str],
        known_environments: list[str],
    ) -> str:
        root = self._workspace.root
        env_file = self._workspace.environments_dir / f"{self._environment.name}.toml"
        plugin_files, plugin_tops = imports.closure(plugin_modules)
        flow_members = {normalise(p) for p in self._modules}
        shared = {
            "version": CACHE_VERSION,
            "installed": imports.installed_fingerprint(),
            "environment": [imports.digest(str(env_file)), self._environment.model_dump_json()],
            "known_environments": sorted(known_environments),
            "branch": branch,
            "variables": {v: os.environ.get(v) for v in KEYED_VARIABLES},
            "plugins": sorted(plugin_versions.items(), key=str),
            "plugin_files": _current(plugin_files),
            "plugin_tops": plugin_tops,
            "project": self._workspace.project,
            "root_options": _options(root / "pyproject.toml"),
            "root_files": [imports.digest(str(root / p)) for p in ("uv.lock", _DOCKERFILE)],
            "flowfleet": imports.walk(Path(flowfleet.__file__).parent),
            "members": {
                name: [m.path, imports.walk(root / m.path, MEMBER_SKIP, self._hash_file)]
                for name, m in sorted(self._workspace.members.items())
                if name not in flow_members  # the core, plugins and libraries shape every package
            },
        }
        return hashlib.sha256(json.dumps(shared, sort_keys=True).encode()).hexdigest()

    def key(self, package: str) -> str | None:
        """Everything about `package` that can be read before it is imported."""
        if package not in self._keys:
            self._keys[package] = self._key(package)
        return self._keys[package]

    def _key(self, package: str) -> str | None:
        top = self._modules.get(package)
        if top is None:
            return None
        member = self._workspace.member(package)
        member_folder = (self._workspace.root / member.path).resolve() if member else None
        parts: dict[str, object] = {
            "shared": self._shared,
            "package": package,
            "module": top,
            "sources": {  # a source folder inside the member's is hashed with it, once
                str(f): imports.walk(f, hash_file=self._hash_file)
                for f in imports.source_folders(top)
                if member_folder is None or not f.resolve().is_relative_to(member_folder)
            },
        }
        if member is not None:
            parts["member"] = [member.path, member.options, member.dependencies]
            parts["member_files"] = imports.walk(member_folder, MEMBER_SKIP, self._hash_file)
        try:  # git storage: the pin is a commit, which no file content tells
            if package_storage(self._workspace, self._environment, package) == "git":
                parts["git"] = [self._git.repository, self._git.commit(package)]
        except FlowfleetError:
            return None  # resolving reports it; never cache around it
        return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()

    def _file(self, package: str) -> Path:
        return self.folder / f"{package}.json"

    def lookup(self, package_names: list[str]) -> dict[str, list[DesiredDeployment]]:
        """Cached deployments of every package whose inputs are all unchanged."""
        hits: dict[str, list[DesiredDeployment]] = {}
        for package in package_names:
            key = self.key(package)  # also for a miss: what it is stored under if it resolves
            try:
                data = from_json(self._file(package).read_bytes())  # pydantic's: 1.5x json
            except (OSError, ValueError):
                continue
            if key is None or data.get("key") != key or not self._still_valid(package, data):
                continue
            hits[package] = [DesiredDeployment.model_validate(d) for d in data["deployments"]]
        return hits

    def _still_valid(self, package: str, data: dict) -> bool:
        if _current(data.get("files", {})) != data.get("files"):
            return False
        if any(imports.locate(top) != origin for top, origin in data.get("tops", {}).items()):
            return False
        tag = data.get("image_tag")
        return tag is None or self._image_tags.get(package) == tag

    def forget(self, package: str) -> None:
        self._file(package).unlink(missing_ok=True)

    def store(self, resolution: Resolution, fleet: Fleet) -> None:
        """Remember every package that loaded and resolved cleanly in this run."""
        read_scope.remember(read_scope.scope_file(self.folder), resolution.deployments)
        troubled = {p.package for p in resolution.problems} | fleet.failed_packages
        if "*" in troubled or None in troubled or not imports.started():
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
            for deployment in deployments:
                deployment.flow_parameter_schema()
            if any(holds_secrets(d) for d in deployments):
                self.forget(package)
                continue  # secret values are sent to the server, never written to a file
            files, tops = imports.closure(imports.package_modules(self._modules[package]))
            if {path: imports.digest(path) for path in files} != files:
                self.forget(package)
                continue  # edited while it loaded: what was imported is not on disk any more
            tag = None
            if any(d.image and d.storage == "image" for d in deployments):
                tag = self._image_tags.get(package)
            payload = {
                "key": key,
                "files": files,
                "tops": tops,
                "image_tag": tag,
                "deployments": [d.model_dump(mode="json") for d in deployments],
            }
            atomic_file.write_text(self._file(package), json.dumps(payload))


_digests: dict[str, str] = {}


def _current(files: Mapping[str, str]) -> dict[str, str]:
    """The files' sha256 now (each file read once per process)."""
    found = {}
    for path in files:
        if path not in _digests:
            _digests[path] = imports.digest(path)
        found[path] = _digests[path]
    return found


def _options(pyproject: Path) -> dict:
    try:
        return tomllib.loads(pyproject.read_text()).get("tool", {}).get("flowfleet", {})
    except (OSError, ValueError):
        return {"unreadable": True}
