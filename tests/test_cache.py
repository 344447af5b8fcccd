"""The resolution cache: a hit skips the import and resolves the same; keys track files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

pytestmark = pytest.mark.workspace  # reads the workspace's own team packages

RESOLVE = """
import json, sys
from flowfleet.session import Session
session = Session()
resolution = session.resolve(session.environment("prod"), "main", cached=True)
print(json.dumps({
    "prefect_imported": "prefect" in sys.modules,
    "prefect_aws_imported": "prefect_aws" in sys.modules,
    "problems": [str(p) for p in resolution.problems],
    "imported": sorted(session.fleet.loaded_packages),
    "listing": [d.listing() for d in resolution.deployments],
}))
"""


def python(script: str, *args: str, **env: str) -> object:
    """Run `script` in a fresh interpreter in the workspace, cache on; its JSON output."""
    environ = {**os.environ, **env}
    environ.pop("FLOWFLEET_NO_CACHE", None)
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def resolve_in_subprocess(cache_dir: Path) -> dict:
    return python(RESOLVE, FLOWFLEET_CACHE_DIR=str(cache_dir), IMAGE_TAG="cache-test")


@pytest.mark.cli
def test_a_hit_gives_the_same_deployments_without_importing_prefect(tmp_path):
    cold = resolve_in_subprocess(tmp_path)
    assert cold["problems"] == []
    assert cold["prefect_imported"] is True  # the flows had to be imported
    # One file per team package, whichever teams the workspace holds (a new team adds one).
    assert {"sales-flows", "marketing-flows"} <= set(cold["imported"])
    files = {p.name for p in (tmp_path / "resolve" / "prod").iterdir()}
    assert files == {f"{package}.json" for package in cold["imported"]}

    warm = resolve_in_subprocess(tmp_path)
    assert warm["imported"] == []
    assert warm["prefect_imported"] is False
    assert warm["listing"] == cold["listing"]
    assert {d["full_name"] for d in warm["listing"]} >= {
        "sales-etl/default",
        "marketing-campaign-sync/default",
    }


EVERY_ENVIRONMENT = """
import json, sys
from flowfleet.session import Session
session = Session()
environments = [session.environment(name) for name in session.known_environments]
resolutions = session.resolve_each(environments, "main", cached=True, collect=True)
print(json.dumps({
    "prefect_imported": "prefect" in sys.modules,
    "problems": [str(p) for r in resolutions for p in r.problems],
    "imported": sorted(session.fleet.loaded_packages),
    "listing": {r.environment.name: [d.listing() for d in r.deployments] for r in resolutions},
}))
"""


@pytest.mark.cli
def test_every_environment_resolves_from_one_import_and_a_miss_anywhere_imports(tmp_path):
    """What `validate` does: a package is skipped only if every environment's cache
    holds it; one environment's miss imports it, and the listings never change."""

    def run() -> dict:
        return python(EVERY_ENVIRONMENT, FLOWFLEET_CACHE_DIR=str(tmp_path), IMAGE_TAG="t")

    cold = run()
    assert cold["problems"] == [] and cold["prefect_imported"] is True
    assert {"sales-flows", "marketing-flows"} <= set(cold["imported"])
    assert {"dev", "prod"} <= set(cold["listing"])

    warm = run()
    assert (warm["imported"], warm["prefect_imported"]) == ([], False)
    assert warm["listing"] == cold["listing"]

    (tmp_path / "resolve" / "dev" / "sales-flows.json").unlink()  # one environment misses
    partial = run()
    assert partial["imported"] == ["sales-flows"]
    assert partial["listing"] == cold["listing"]


RECORD = """
import json, sys
from flowfleet import imports
imports.start()
sys.path[:0] = sys.argv[1:]
import first, second
print(json.dumps({top: sorted(imports.closure(imports.package_modules(top))[0])
                  for top in ("first", "second")}))
"""


def test_each_package_is_keyed_on_every_file_it_imports_even_one_another_loaded_first(
    tmp_path: Path,
) -> None:
    """`second` imports `shared`, which `first` already loaded: it still counts for both."""
    site, libs = tmp_path / "site", tmp_path / "libs"
    for folder, files in {
        site / "first": {"__init__.py": "from first import jobs\n", "jobs.py": "import shared\n"},
        site / "second": {"__init__.py": "from . import build\n"},
        site / "second" / "build": {"__init__.py": "from shared import HOUR\n"},
        libs / "shared": {"__init__.py": "from shared.deep import HOUR\n", "deep.py": "HOUR = 5\n"},
    }.items():
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (folder / name).write_text(text)
    recorded = python(RECORD, str(site), str(libs))
    closure = {
        top: [Path(f).relative_to(tmp_path).as_posix() for f in files]
        for top, files in recorded.items()
    }
    shared = ["libs/shared/__init__.py", "libs/shared/deep.py"]
    assert closure["first"] == [*shared, "site/first/__init__.py", "site/first/jobs.py"]
    assert closure["second"] == [
        *shared,
        "site/second/__init__.py",
        "site/second/build/__init__.py",
    ]


STORE = """
import json, sys
from flowfleet import imports
imports.start()
import sales_flows
from types import SimpleNamespace
from flowfleet.cache import ResolveCache
from flowfleet.desired import DesiredDeployment
from flowfleet.environments import load_environment
from flowfleet.resolve import Resolution
from flowfleet.workspace import Workspace

workspace = Workspace.find()
environment = load_environment(workspace.environments_dir, "prod")
cache = ResolveCache(workspace, environment, "main", modules={"sales-flows": "sales_flows"},
                     plugin_versions={})
stored = cache.folder / "sales-flows.json"
loaded = SimpleNamespace(loaded_packages={"sales-flows"}, failed_packages=set())
base = dict(package="sales-flows", flow="f", name="n", full_name="f/n", entrypoint="m:f",
            work_pool="pool", pool_type="process", infra="worker")
written = []
for variables in ({"env": {"REGION": "eu-west-1"}}, {"env": {"DB_PASSWORD": "hunter2"}}):
    deployment = DesiredDeployment(**base, job_variables=variables)
    cache.store(Resolution(environment, deployments=[deployment]), loaded)
    written.append(stored.exists())
print(json.dumps(written))
"""


def test_a_package_with_secret_values_is_never_written_to_the_cache(tmp_path):
    from deployments import minimal_deployment
    from flowfleet.cache import holds_secrets

    plain = minimal_deployment(job_variables={"env": {"REGION": "eu-west-1"}})
    secret = minimal_deployment(job_variables={"env": {"DB_PASSWORD": "hunter2"}})
    token = minimal_deployment(parameters={"api_token": "abcd1234"})
    assert not holds_secrets(plain)
    assert holds_secrets(secret) and holds_secrets(token)

    assert python(STORE, FLOWFLEET_CACHE_DIR=str(tmp_path)) == [True, False]
    assert "hunter2" not in "".join(p.read_text() for p in tmp_path.rglob("*.json"))


def cold(script: str, cache_dir: Path, workers: str, **env: str) -> dict:
    return python(
        script,
        FLOWFLEET_CACHE_DIR=str(cache_dir),
        IMAGE_TAG="t",
        FLOWFLEET_RESOLVE_WORKERS=workers,
        **env,
    )


@pytest.mark.cli
@pytest.mark.parametrize(
    ("script", "workers"),
    [(RESOLVE, "2"), (EVERY_ENVIRONMENT, "1")],
    ids=["one-env-two-workers", "every-env-one-worker"],
)
def test_workers_fill_a_cold_cache_and_the_command_imports_no_flow(tmp_path, script, workers):
    """prewarm.py: worker processes import and cache the cold packages; the command
    itself never imports Prefect, and resolves exactly what one process resolves."""
    alone = cold(script, tmp_path / "alone", "0")
    assert alone["problems"] == [] and alone["prefect_imported"] is True
    assert {"sales-flows", "marketing-flows"} <= set(alone["imported"])

    helped = cold(script, tmp_path / "workers", workers)
    assert (helped["imported"], helped["prefect_imported"]) == ([], False)
    assert (helped["problems"], helped["listing"]) == ([], alone["listing"])


@pytest.mark.cli
def test_a_worker_taking_one_package_at_a_time_caches_what_the_command_resolves(tmp_path):
    """A worker lets go of each batch's flows before the next; every later batch must
    still be stored under the key the command looks for."""
    alone = cold(RESOLVE, tmp_path / "alone", "0")
    assert len(alone["imported"]) >= 2  # so the worker below has a second batch
    environ = {**os.environ, "FLOWFLEET_CACHE_DIR": str(tmp_path / "worker"), "IMAGE_TAG": "t"}
    environ.pop("FLOWFLEET_NO_CACHE", None)
    worker = [sys.executable, "-m", "flowfleet.prewarm", "--root", str(ROOT), "--env=prod"]
    subprocess.run(
        [*worker, "--branch=main", *alone["imported"]],
        env={**environ, "FLOWFLEET_RESOLVE_WORKERS": "0", "FLOWFLEET_RESOLVE_BATCH": "1"},
        cwd=ROOT,
        check=True,
        timeout=120,
    )
    after = cold(RESOLVE, tmp_path / "worker", "0")
    assert (after["imported"], after["prefect_imported"]) == ([], False)
    assert (after["problems"], after["listing"]) == ([], alone["listing"])


@pytest.mark.cli
def test_a_cold_run_takes_the_stock_templates_from_disk_and_resolves_the_same(tmp_path):
    """template_store.py: the first cold run imports prefect-aws for the ECS template and
    keeps it; the next cold run (its resolutions gone) checks against the kept one."""
    first = cold(RESOLVE, tmp_path, "0")
    assert first["problems"] == [] and first["prefect_aws_imported"] is True
    assert len(list((tmp_path / "templates").glob("*.json"))) == 1

    shutil.rmtree(tmp_path / "resolve")
    again = cold(RESOLVE, tmp_path, "0")
    assert again["imported"] == first["imported"]  # cold: every package imported again
    assert again["prefect_aws_imported"] is False
    assert (again["problems"], again["listing"]) == ([], first["listing"])


CRASH_ONE_WORKER = """
import os, sys
if "flowfleet.prewarm" in sys.orig_argv and "sales-flows" in sys.orig_argv:
    os._exit(9)  # this worker dies before it resolves anything
"""


@pytest.mark.cli
def test_a_worker_that_dies_leaves_its_share_to_the_command(tmp_path):
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(CRASH_ONE_WORKER)
    alone = cold(RESOLVE, tmp_path / "alone", "0")
    helped = cold(RESOLVE, tmp_path / "workers", "2", PYTHONPATH=str(hook))
    from flowfleet.prewarm import shares

    [lost] = [s for s in shares(alone["imported"], 2) if "sales-flows" in s]
    assert helped["imported"] == lost  # the other worker's share came from the cache
    assert "marketing-flows" not in helped["imported"]
    assert (helped["problems"], helped["listing"]) == ([], alone["listing"])
