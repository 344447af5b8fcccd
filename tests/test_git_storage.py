"""Git storage: pull steps that clone the deployed commit instead of a per-package image.

Every test builds its own workspace in a temporary git repository, with a bare `origin`
next to it, so the real repository's git state is never touched. The flow package is a
real package on disk (loaded in-process here); its workspace dependency `libs/shared`
must travel with it, and `flows/other` must not.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
import time
import uuid
from pathlib import Path

import pytest
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import FlowFilter, FlowFilterName

from conftest import git
from flowfleet import engine, gitstorage
from flowfleet.cache import ResolveCache
from flowfleet.engine import Target
from flowfleet.environments import load_environment
from flowfleet.local import pidfile
from flowfleet.local.flowrun import run_deployment
from flowfleet.local.state import StateDir
from flowfleet.local.worker import check_alive, ensure_worker, worker_name
from flowfleet.plugins import load_plugins
from flowfleet.problems import FlowfleetError
from flowfleet.render import plan_json, plan_markdown
from flowfleet.session import Session
from flowfleet.workspace import Workspace

FLOW = """
import json
from pathlib import Path

from prefect import flow

import {lib}
from flowfleet import DeploymentConfig
from {pkg} import registry


@registry(DeploymentConfig(tags=["git"]))
@flow(name="hello-{uid}")
def hello(output_path: str = "") -> str:
    clone = Path({lib}.__file__).parents[4]  # <clone>/libs/shared/src/{lib}/__init__.py
    seen = {{
        "marker": {lib}.MARKER,
        "lib_file": {lib}.__file__,
        "other_cloned": (clone / "flows" / "other").exists(),
    }}
    if output_path:
        Path(output_path).write_text(json.dumps(seen))
    return {lib}.MARKER
"""


class GitProject:
    """A workspace in its own git repository: flows/tiny (git storage) depends on libs/shared."""

    def __init__(self, tmp: Path, api_url: str, package_storage: str | None = None):
        self.uid = uuid.uuid4().hex[:8]
        self.root, self.remote = tmp / "ws", tmp / "origin.git"
        self.api_url, self.pool = api_url, f"proc-{self.uid}"
        self.project = f"git-{self.uid}"
        self.pkg, self.lib = f"tiny_{self.uid}_flows", f"shared_{self.uid}"
        self.dist = f"tiny-{self.uid}-flows"
        self.full_name = f"hello-{self.uid}/default"
        self.repository = self.remote.resolve().as_uri()
        storage = f'storage = "{package_storage}"\n' if package_storage else ""
        self.write(
            "pyproject.toml",
            '[tool.uv.workspace]\nmembers = ["flows/*", "libs/*"]\n'
            f'[tool.flowfleet]\nproject = "{self.project}"\n',
        )
        self.write(
            "flows/tiny/pyproject.toml",
            f'[project]\nname = "{self.dist}"\nversion = "0.1.0"\n'
            f'dependencies = ["flowfleet", "prefect", "shared-{self.uid}"]\n'
            f"[tool.flowfleet]\n{storage}",
        )
        self.write(
            f"flows/tiny/src/{self.pkg}/__init__.py",
            "from flowfleet import Registry\n\nregistry = Registry()\n",
        )
        self.write(
            f"flows/tiny/src/{self.pkg}/hello.py",
            FLOW.format(pkg=self.pkg, lib=self.lib, uid=self.uid).lstrip(),
        )
        self.write("libs/shared/pyproject.toml", f'[project]\nname = "shared-{self.uid}"\n')
        self.set_marker("v1")
        self.write("flows/other/pyproject.toml", '[project]\nname = "other"\n')
        self.write("flows/other/notes.txt", "unrelated\n")
        common = (
            f'api_url = "{api_url}"\ndefault_infra = "worker"\n[pools]\nworker = "{self.pool}"\n'
        )
        self.env_file("test", f'storage = "git"\ngit_repository = "{self.repository}"\n', common)
        self.env_file(
            "creds",
            f'storage = "git"\ngit_repository = "{self.repository}"\n'
            'git_credentials_block = "github-token"\n',
            common,
        )
        self.env_file(
            "dev",
            f'storage = "git"\ngit_repository = "{self.repository}"\n'
            'branches = ["*"]\nbranch_deployments = true\n',
            common,
        )
        self.env_file("images", "", common)  # storage defaults to "image"
        git(tmp, "init", "-q", "--bare", "-b", "main", str(self.remote))
        git(self.root, "init", "-q", "-b", "main")
        git(self.root, "remote", "add", "origin", self.repository)
        self.commit("first")
        sys.path[:0] = [str(self.root / "flows/tiny/src"), str(self.root / "libs/shared/src")]
        self.registry = importlib.import_module(self.pkg).registry
        self.registry.distribution = self.dist

    def write(self, path: str, text: str) -> None:
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)

    def env_file(self, name: str, storage: str, common: str) -> None:
        self.write(f"infra/environments/{name}.toml", storage + common)

    def set_marker(self, marker: str) -> None:
        self.write(f"libs/shared/src/{self.lib}/__init__.py", f'MARKER = "{marker}"\n')

    def commit(self, message: str, push: bool = True) -> str:
        git(self.root, "add", "-A")
        git(self.root, "commit", "-q", "--allow-empty", "-m", message)
        if push:
            git(self.root, "push", "-q", "origin", "HEAD")
        return git(self.root, "rev-parse", "HEAD")

    def session(self) -> Session:
        plugins = load_plugins(entry_point_group=None)
        plugins.register(self.registry, "tiny", self.dist, "0")
        return Session(workspace=Workspace(self.root, self.project), plugins=plugins)

    def target(self, env: str = "test", branch: str = "main") -> Target:
        return Target.load(env, self.session(), branch)

    def deploy(self, env: str = "test", branch: str = "main"):
        target = self.target(env, branch)
        asyncio.run(engine.pools(target))
        return asyncio.run(engine.deploy(target, client=PrefectClient(api=self.api_url)))

    def plan(self, env: str = "test", branch: str = "main"):
        return asyncio.run(engine.plan(self.target(env, branch)))

    def server_deployments(self) -> dict:
        async def read() -> dict:
            mine = FlowFilter(name=FlowFilterName(like_=self.uid))
            async with PrefectClient(api=self.api_url) as client:
                flows = {f.id: f.name for f in await client.read_flows(flow_filter=mine)}
                return {
                    f"{flows[d.flow_id]}/{d.name}": d
                    for d in await client.read_deployments(flow_filter=mine)
                }

        return asyncio.run(read())

    def cleanup(self) -> None:
        for path in (str(self.root / "flows/tiny/src"), str(self.root / "libs/shared/src")):
            if path in sys.path:
                sys.path.remove(path)
        for name in [m for m in sys.modules if m.startswith((self.pkg, self.lib))]:
            del sys.modules[name]


@pytest.fixture
def project(tmp_path, prefect_server):
    made = GitProject(tmp_path, prefect_server.api_url)
    yield made
    made.cleanup()


@pytest.fixture
def offline(tmp_path):
    """A project for tests that never reach a server."""
    made = GitProject(tmp_path, "http://127.0.0.1:9/api")
    yield made
    made.cleanup()


def clone_step(deployment) -> dict:
    steps = deployment.pull_steps
    assert [next(iter(s)) for s in steps] == [gitstorage.CLONE_STEP, gitstorage.PATH_STEP]
    return steps[0][gitstorage.CLONE_STEP]


# ---------------------------------------------------------------- choosing the mode (pure)


def test_package_storage_wins_over_the_environment_and_bad_values_are_one_line(tmp_path):
    made = GitProject(tmp_path, "http://127.0.0.1:9/api", package_storage="image")
    try:
        workspace = Workspace(made.root, made.project)
        envs = workspace.environments_dir
        git_env, image_env = load_environment(envs, "test"), load_environment(envs, "images")
        assert git_env.storage == "git" and image_env.storage == "image"
        # The package says image: it wins over the git environment.
        assert gitstorage.package_storage(workspace, git_env, made.dist) == "image"
        assert made.target("test").desired[0].pull_steps is None

        made.write(
            "flows/tiny/pyproject.toml",
            made.root.joinpath("flows/tiny/pyproject.toml").read_text().replace('"image"', '"git"'),
        )
        workspace = Workspace(made.root, made.project)
        assert gitstorage.package_storage(workspace, image_env, made.dist) == "git"
        local = image_env.model_copy(update={"single_pool": "local"})
        assert gitstorage.package_storage(workspace, local, made.dist) == "local"

        made.write(
            "flows/tiny/pyproject.toml",
            made.root.joinpath("flows/tiny/pyproject.toml").read_text().replace('"git"', '"zip"'),
        )
        with pytest.raises(FlowfleetError) as bad:
            made.target("images")
        (line,) = str(bad.value).splitlines()
        assert "flows/tiny/pyproject.toml" in line and "'zip'" in line
        assert "(allowed: image, git)" in line and made.dist in line

        (envs / "bad.toml").write_text('storage = "s3"\n')
        with pytest.raises(FlowfleetError) as bad:
            load_environment(envs, "bad")
        (line,) = str(bad.value).splitlines()
        assert "bad.toml:1" in line and "'image' or 'git'" in line

        (envs / "leak.toml").write_text('git_repository = "https://x:ghp_secret@github.com/a/b"\n')
        with pytest.raises(FlowfleetError, match="must not carry credentials"):
            load_environment(envs, "leak")
    finally:
        made.cleanup()


def test_git_storage_uses_the_shared_base_image_and_asks_for_one(offline):
    made = offline
    ecs = (
        'api_url = "http://127.0.0.1:9/api"\nstorage = "git"\ndefault_infra = "ecs"\n'
        'image_registry = "ghcr.io/acme"\n'
    )
    made.write("infra/environments/ecs.toml", ecs + 'base_image = "ghcr.io/acme/rt:3.11"\n')
    made.write("infra/environments/nobase.toml", ecs)
    (want,) = made.target("ecs").desired
    assert want.image == want.job_variables["image"] == "ghcr.io/acme/rt:3.11"
    assert want.storage == "git" and want.entrypoint == f"{made.pkg}.hello:hello"
    with pytest.raises(FlowfleetError) as missing:
        made.target("nobase")
    assert "nobase.toml sets no base_image" in str(missing.value)


# ---------------------------------------------------------------- against the real server


@pytest.mark.server
def test_pull_steps_read_back_from_the_server(project):
    first = git(project.root, "rev-parse", "HEAD")
    before = project.plan("creds")
    (row,) = plan_json(before)["create"]
    assert (row["storage"], row["commit"]) == ("git", first)
    assert f"| git @ {first[:12]} |" in plan_markdown(before)
    planned, report = project.deploy("creds")
    assert report.ok and [c.full_name for c in planned.create] == [project.full_name]
    have = project.server_deployments()[project.full_name]
    clone = clone_step(have)
    assert clone == {
        "id": "clone",
        "repository": project.repository,
        "commit_sha": first,
        "directories": ["libs/shared", "flows/tiny"],  # the package and its workspace dep
        "access_token": "{{ prefect.blocks.secret.github-token }}",  # a reference, no value
    }
    assert have.pull_steps[1][gitstorage.PATH_STEP] == {
        "directory": "{{ clone.directory }}",
        "folders": ["libs/shared", "flows/tiny"],
    }
    assert have.entrypoint == f"{project.pkg}.hello:hello"
    assert have.job_variables.get("image") is None  # a process pool: no image at all

    (row,) = plan_json(project.plan("creds"))["unchanged"]  # idempotent
    assert (row["storage"], row["commit"]) == ("git", first)

    # A commit elsewhere in the repository changes nothing; one in a dependency does.
    project.write("flows/other/notes.txt", "still unrelated\n")
    project.commit("unrelated")
    assert plan_json(project.plan("creds"))["update"] == []
    project.set_marker("v2")
    second = project.commit("shared changed")
    (update,) = plan_json(project.plan("creds"))["update"]
    assert update["commit"] == second and set(update["changes"]) == {"pull_steps", "commit"}
    assert update["changes"]["commit"] == {"from": first, "to": second}


@pytest.mark.server
def test_branch_deployments_pull_their_own_branch_commit(project):
    main_commit = git(project.root, "rev-parse", "HEAD")
    project.deploy("dev", "main")
    git(project.root, "checkout", "-q", "-b", "feature/x")
    project.set_marker("feature")
    feature_commit = project.commit("feature work")
    planned, report = project.deploy("dev", "feature/x")
    assert report.ok
    found = project.server_deployments()
    (branch_name,) = [n for n in found if n != project.full_name]
    assert clone_step(found[branch_name])["commit_sha"] == feature_commit
    assert clone_step(found[project.full_name])["commit_sha"] == main_commit
    assert [c.commit for c in planned.create] == [feature_commit]


def test_uncommitted_package_changes_are_refused(offline):
    project = offline
    project.write(f"flows/tiny/src/{project.pkg}/extra.py", "X = 1\n")
    with pytest.raises(FlowfleetError) as dirty:
        project.target("test")
    (line,) = str(dirty.value).splitlines()
    assert project.dist in line and "extra.py" in line and "commit" in line
    project.target("images")  # image storage does not care


def test_cache_key_follows_the_pinned_commit(offline):
    project = offline
    workspace = Workspace(project.root, project.project)
    env = load_environment(workspace.environments_dir, "test")

    def key() -> str | None:
        cache = ResolveCache(
            workspace, env, "main", modules={project.dist: project.pkg}, plugin_versions={}
        )
        return cache.key(project.dist)

    before = key()
    project.set_marker("v2")
    project.commit("change")
    project.set_marker("v1")
    project.commit("change back")  # the same files as before, at another commit
    assert key() not in (None, before)


# ---------------------------------------------------------------- end to end on a real worker


@pytest.mark.server
def test_a_git_deployment_runs_the_deployed_commit_on_a_process_worker(project, tmp_path):
    started = time.monotonic()
    state = StateDir.at(tmp_path / "state")
    output = tmp_path / "out.json"
    planned, report = project.deploy("test")  # creates the pool, too
    assert report.ok, report.outcomes
    # Pushed after the deploy, never deployed: the run must not pick it up.
    project.set_marker("undeployed")
    project.commit("not deployed")
    record = ensure_worker(state, project.api_url, project.pool)
    try:
        run = asyncio.run(
            run_deployment(
                project.api_url,
                project.full_name,
                {"output_path": str(output)},
                timeout=120,
                check=lambda: check_alive(record),
            )
        )
    finally:
        pidfile.stop(state.pidfile(worker_name(project.pool)))
    log = Path(record.log).read_text()
    assert run.state.is_completed(), log[-3000:]
    assert "Running 2 deployment pull step(s)" in log
    seen = json.loads(output.read_text())
    assert seen["marker"] == "v1"  # libs/shared as of the deployed commit, not the newer one
    assert seen["lib_file"].endswith(f"libs/shared/src/{project.lib}/__init__.py")
    assert not seen["lib_file"].startswith(str(project.root))  # from the clone
    assert seen["other_cloned"] is False  # sparse: only the package and its dependency
    print(f"git-storage run end to end: {time.monotonic() - started:.1f}s")
