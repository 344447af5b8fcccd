"""The resolution cache against a real server: never a wrong plan, never a wrong prune.

Each test runs the real CLI on a throwaway project on disk (tests/disk_project.py)
whose flow package is not a workspace member, with the cache on and its own cache
folder, then edits something a resolution depends on and compares `plan --output
json` with the cache on and off: they must be identical. The cases are issue 18's:
flows under `build/` and in a git-ignored folder, an editable path dependency, a
root `project` rename, an environment file edit and a plugin upgrade.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import git
from disk_project import DiskProject
from snapshots import create_pool, snapshot

pytestmark = pytest.mark.server

JOBS = """
from prefect import flow

from flowfleet import DeploymentConfig
from {package} import registry


@registry(DeploymentConfig(name="nightly", cron="0 3 * * *"))
@flow(name="{flow}")
def jobs() -> None:
    pass
"""

USES_SETTINGS = """
from prefect import flow

import {lib}
from flowfleet import DeploymentConfig
from {package} import registry


@registry(DeploymentConfig(name="tuned", cron=f"0 {{{lib}.HOUR}} * * *"))
@flow(name="{flow}")
def tuned() -> None:
    pass
"""

POLICY = """
from importlib.metadata import version

from flowfleet import hookimpl


@hookimpl
def flowfleet_adjust_deployment(deployment, environment):
    deployment.tags.append("policy-" + version("{dist}"))
"""


class CachedProject(DiskProject):
    """A DiskProject run with the cache on, plus a path dependency and a policy plugin."""

    def __init__(self, root: Path, api_url: str):
        super().__init__(root, api_url, flows=2, per_flow=1)
        self.cache_dir = root / "cache"
        self.lib = f"disk_{self.uid}_settings"
        self.libs = root / "libs"  # an editable path dependency: on sys.path, not a member
        self.libs.mkdir()
        (self.libs / f"{self.lib}.py").write_text("HOUR = 5\n")
        self.write_module("tuned.py", USES_SETTINGS, "tuned")
        self.policy = f"disk_{self.uid}_policy"
        (self.site / f"{self.policy}.py").write_text(POLICY.format(dist=f"policy-{self.uid}"))
        self.set_policy_version("1.0")
        (root / ".gitignore").write_text("output/\ncache/\nprefect-home/\n")
        git(root, "init", "-q")
        git(root, "add", "-A")
        git(root, "commit", "-qm", "project")
        create_pool(api_url, self.pool)
        create_pool(api_url, f"{self.pool}-moved")

    def set_policy_version(self, version: str) -> None:
        for old in self.site.glob("policy_*.dist-info"):
            shutil.rmtree(old)
        info = self.site / f"policy_{self.uid}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: policy-{self.uid}\nVersion: {version}\n"
        )
        group = "flowfleet-disk-project"
        (info / "entry_points.txt").write_text(f"[{group}]\npolicy = {self.policy}\n")

    def write_module(self, relative: str, template: str, short: str) -> str:
        """Write a flow module at `site/<package>/<relative>`; returns its flow's name."""
        name = f"{short}-{self.uid}"
        path = self.site / self.package / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.parent != self.site / self.package:
            (path.parent / "__init__.py").touch()
        path.write_text(template.format(package=self.package, flow=name, lib=self.lib))
        return name

    def env(self, **extra: str) -> dict[str, str]:
        env = super().env(**extra)
        env["PYTHONPATH"] = f"{self.site}:{self.libs}"
        env["FLOWFLEET_CACHE_DIR"] = str(self.cache_dir)
        env["FLOWFLEET_NO_CACHE"] = extra.get("FLOWFLEET_NO_CACHE", "")
        return env

    def plan(self, *args: str, cached: bool = True) -> dict:
        result = self.run(
            "plan", "--env", "test", "-o", "json", *args, FLOWFLEET_NO_CACHE="" if cached else "1"
        )
        assert result.returncode in (0, 1) and result.stdout, result.stderr  # 1: conflicts
        return json.loads(result.stdout)

    def deploy(self, *args: str) -> None:
        result = self.run("deploy", "--env", "test", *args)
        assert result.returncode == 0, result.stderr

    @property
    def entry(self) -> Path:
        return self.cache_dir / "resolve" / "test" / f"disk-{self.uid}-flows.json"

    def served_from_cache(self, *args: str) -> dict:
        """`plan` that must hit the cache: a hit leaves the entry as it was, a miss rewrites it."""
        stamp = self.entry.stat().st_mtime_ns
        planned = self.plan(*args)
        assert self.entry.stat().st_mtime_ns == stamp, "the warm plan did not use the cache"
        return planned

    def cached_packages(self) -> set[str]:
        return {p.stem for p in (self.cache_dir / "resolve" / "test").glob("*.json")}

    def on_server(self) -> set[str]:
        return {n for n in snapshot(self.api_url).full_names if self.uid in n}


def names(plan: dict, action: str) -> set[str]:
    return {row["full_name"] for row in plan[action]}


@pytest.fixture
def project(prefect_server, tmp_path: Path) -> CachedProject:
    project = CachedProject(tmp_path / "project", prefect_server.api_url)
    project.deploy()  # deployed, and the cache is warm
    assert project.cached_packages() == {f"disk-{project.uid}-flows"}
    return project


def test_flows_in_build_and_ignored_folders_are_planned_warm_and_never_pruned(
    project: CachedProject,
) -> None:
    built = project.write_module("build/jobs.py", JOBS, "built")
    ignored = project.write_module("output/jobs.py", JOBS, "ignored")
    assert git(project.root, "status", "--porcelain", "--ignored").count("output/") == 1

    warm = project.plan()
    assert names(warm, "create") == {f"{built}/nightly", f"{ignored}/nightly"}
    assert warm == project.plan(cached=False)

    project.deploy()
    result = project.run("prune", "--env", "test")
    assert result.returncode == 0, result.stderr
    assert {f"{built}/nightly", f"{ignored}/nightly"} <= project.on_server()
    assert project.plan("--prune")["delete"] == []

    shutil.rmtree(project.site / project.package / "build")  # no ghost of deleted code
    gone = project.plan("--prune")
    assert f"{built}/nightly" not in names(gone, "create") | names(gone, "unchanged")
    assert names(gone, "delete") == {f"{built}/nightly"}
    assert gone == project.plan("--prune", cached=False)


def edit_path_dependency(p: CachedProject) -> None:
    (p.libs / f"{p.lib}.py").write_text("HOUR = 6\n")


def rename_project(p: CachedProject) -> None:
    pyproject = p.root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace(p.project, p.project + "-renamed"))


def edit_environment(p: CachedProject) -> None:
    env_file = p.root / "infra" / "environments" / "test.toml"
    env_file.write_text(env_file.read_text().replace(f'"{p.pool}"', f'"{p.pool}-moved"'))


def upgrade_plugin(p: CachedProject) -> None:
    p.set_policy_version("2.0")


def add_module(folder: str) -> Callable[[CachedProject], None]:
    return lambda p: p.write_module(f"{folder}jobs.py", JOBS, f"added-{folder.strip('/')}")


def remove_module(p: CachedProject) -> None:
    (p.site / p.package / "tuned.py").unlink()


def rename_module(p: CachedProject) -> None:
    folder = p.site / p.package
    (folder / "tuned.py").rename(folder / "renamed.py")


def rename_flow(p: CachedProject) -> None:
    module = p.site / p.package / "tuned.py"
    module.write_text(module.read_text().replace('name="tuned"', 'name="retuned"'))


EDITS = {
    "add-module": add_module(""),
    "add-module-in-build": add_module("build/"),
    "add-module-in-dist": add_module("dist/"),
    "add-module-in-ignored-folder": add_module("output/"),
    "remove-module": remove_module,
    "rename-module": rename_module,
    "rename-flow-deployment": rename_flow,
    "path-dependency-constant": edit_path_dependency,
    "root-project-rename": rename_project,
    "environment-file": edit_environment,
    "plugin-upgrade": upgrade_plugin,
}


@pytest.mark.parametrize("edit", list(EDITS), ids=list(EDITS))
def test_cached_and_uncached_plans_are_identical_after_each_edit(
    project: CachedProject, edit: str
) -> None:
    before = project.served_from_cache("--prune")  # so the cache is really in play
    assert names(before, "unchanged") == project.on_server() and not names(before, "update")
    EDITS[edit](project)
    cached = project.plan("--prune")
    assert cached == project.plan("--prune", cached=False)
    assert cached != before, "the edit changes the plan, so a stale cache would show"


def test_prune_never_deletes_on_the_strength_of_a_stale_cache(project: CachedProject) -> None:
    tuned = f"tuned-{project.uid}/tuned"
    assert tuned in project.on_server()
    # A stale cache entry that lost one declared deployment (its key still matches).
    entry = project.entry
    data = json.loads(entry.read_text())
    data["deployments"] = [d for d in data["deployments"] if d["full_name"] != tuned]
    entry.write_text(json.dumps(data))

    stale = project.served_from_cache()
    assert tuned not in names(stale, "unchanged"), "the stale entry is served as it is"
    planned = project.plan("--prune")
    assert tuned not in names(planned, "delete"), "the plan trusted the stale cache"
    assert tuned in names(planned, "unchanged")
    for command in (("prune", "--env", "test"), ("deploy", "--env", "test", "--prune")):
        entry.write_text(json.dumps(data))  # stale again: the belt dropped it last time
        result = project.run(*command)
        assert result.returncode == 0, result.stderr
        assert tuned in project.on_server(), f"{' '.join(command)} deleted a declared deployment"
    assert not entry.exists() or tuned in entry.read_text(), "the stale entry was kept"


def test_a_flow_really_removed_is_still_pruned_with_a_warm_cache(project: CachedProject) -> None:
    tuned = f"tuned-{project.uid}/tuned"
    (project.site / project.package / "tuned.py").unlink()
    result = project.run("prune", "--env", "test")
    assert result.returncode == 0, result.stderr
    assert tuned not in project.on_server()
