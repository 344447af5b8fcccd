"""Worker images, server-free: which packages go into which pool's image, their tags, what
`list` says runs each deployment, and the Dockerfile's several-package install."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT, run_cli
from deployments import minimal_deployment
from flowfleet.environments import Environment
from flowfleet.problems import FlowfleetError
from flowfleet.worker_images import (
    pick,
    runs_by_deployment,
    runtime_packages,
    worker_images,
    worker_tag,
)

ENV = Environment(name="prod", image_registry="ghcr.io/acme", base_image="ghcr.io/acme/rt:1")
TAGS = {"a": "a" * 12, "b": "b" * 12, "c": "c" * 12, "d": "d" * 12}


def fleet():
    return [
        minimal_deployment(package="b", full_name="b/x", work_pool="worker-prod"),
        minimal_deployment(package="a", full_name="a/x", work_pool="worker-prod"),
        minimal_deployment(package="a", full_name="a/y", work_pool="worker-prod"),
        minimal_deployment(package="d", full_name="d/x", work_pool="batch"),
        minimal_deployment(
            package="c",
            full_name="c/x",
            work_pool="ecs-prod",
            pool_type="ecs",
            infra="ecs",
            image="ghcr.io/acme/c-flows:" + TAGS["c"],
        ),  # fmt: skip
        minimal_deployment(
            package="c",
            full_name="c/git",
            work_pool="worker-prod",
            storage="git",
            commit="0123456789abcdef",
        ),  # fmt: skip
    ]


def test_each_process_pool_gets_one_image_with_the_packages_that_target_it():
    found = worker_images(fleet(), ENV, TAGS)
    assert {pool: image.packages for pool, image in found.items()} == {
        "batch": ("d",),
        "worker-prod": ("a", "b"),  # c runs from its own image, or from git: not in it
    }
    assert found["worker-prod"].name == "ghcr.io/acme/flowfleet-worker-worker-prod"


def test_a_pool_serving_a_package_from_outside_the_workspace_gets_no_worker_image():
    """An installed team package has no content tag: no image can be built for its pool,
    so its runs are what the worker host has installed (and `plan` does not crash)."""
    tags = {p: t for p, t in TAGS.items() if p != "d"}  # d: installed, not a member
    found = worker_images(fleet(), ENV, tags)
    assert set(found) == {"worker-prod"}
    runs = runs_by_deployment(fleet(), ENV, tags)
    assert runs["d/x"] == "installed on the worker host"
    assert runs["a/x"].startswith("worker image ghcr.io/acme/flowfleet-worker-worker-prod:")


def test_the_tag_follows_exactly_the_packages_in_the_image():
    before = worker_images(fleet(), ENV, TAGS)["worker-prod"].tag
    assert re.fullmatch(r"[0-9a-f]{12}", before)
    assert worker_images(fleet(), ENV, {**TAGS, "c": "1" * 12})["worker-prod"].tag == before
    assert worker_images(fleet(), ENV, {**TAGS, "d": "1" * 12})["worker-prod"].tag == before
    assert worker_images(fleet(), ENV, {**TAGS, "a": "1" * 12})["worker-prod"].tag != before
    assert worker_tag({"b": TAGS["b"], "a": TAGS["a"]}) == before  # order does not matter
    assert worker_images(fleet(), ENV, TAGS, override="v1")["worker-prod"].tag == "v1"


def test_runs_says_what_actually_runs_each_deployment():
    runs = runs_by_deployment(fleet(), ENV, TAGS)
    worker = worker_images(fleet(), ENV, TAGS)["worker-prod"].reference
    assert runs["a/x"] == runs["b/x"] == f"worker image {worker}"
    assert runs["c/x"] == f"image ghcr.io/acme/c-flows:{'c' * 12}"
    assert (
        runs["c/git"] == "git clone @ 0123456789ab on the worker, runtime image ghcr.io/acme/rt:1"
    )
    laptop = [minimal_deployment(storage="local", work_pool="local")]
    assert runs_by_deployment(laptop, ENV, {}) == {
        "flow/default": "the working tree, on the local worker"
    }


def test_a_pool_without_a_worker_image_is_one_line_naming_those_that_have_one():
    with pytest.raises(FlowfleetError) as caught:
        pick(worker_images(fleet(), ENV, TAGS), "ecs-prod", ENV)
    message = str(caught.value)
    assert "pool 'ecs-prod'" in message and "batch, worker-prod" in message
    assert "\n" not in message


def test_the_dockerfile_installs_every_package_it_is_given(tmp_path: Path):
    """The Dockerfile's dependency step, run as written with two packages (uv's dry run)."""
    dockerfile = (ROOT / "infra/docker/Dockerfile").read_text()
    (step,) = re.findall(r"^RUN (uv sync .*--no-install-workspace.*)$", dockerfile, re.M)

    def would_install(packages: str) -> str:
        env = {**os.environ, "PACKAGE": packages, "UV_PROJECT_ENVIRONMENT": str(tmp_path / "v")}
        done = subprocess.run(
            ["sh", "-c", f"{step} --dry-run"], cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return done.stderr + done.stdout

    both = would_install("sales-flows marketing-flows")
    assert "prefect-kubernetes" in both  # marketing's plugin dependency
    assert "prefect-kubernetes" not in would_install("sales-flows")


def test_the_runtime_image_installs_flowfleet_and_dependencies_but_not_the_cloned_code(
    tmp_path: Path,
):
    """The Dockerfile's source step with NO_INSTALL, as `images build --runtime` passes it."""
    dockerfile = (ROOT / "infra/docker/Dockerfile").read_text().replace("\\\n", " ")
    (step,) = re.findall(r"^RUN (uv sync .*--no-editable.*)$", dockerfile, re.M)
    env = {
        **os.environ,
        "PACKAGE": "sales-flows",
        "NO_INSTALL": "sales-flows",
        "UV_PROJECT_ENVIRONMENT": str(tmp_path / "v"),
    }
    done = subprocess.run(
        ["sh", "-c", f"{step} --dry-run"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "+ flowfleet @ file://" in done.stderr
    assert "sales-flows" not in done.stderr and "prefect==" in done.stderr


def test_runtime_packages_are_the_git_storage_ones():
    assert runtime_packages(fleet()) == ("c",)


@pytest.mark.cli
def test_a_runtime_build_without_git_storage_is_one_line():
    built = run_cli("images", "build", "--runtime", "--env", "dev", "--dry-run")
    assert built.returncode == 1
    assert built.stderr.strip() == (
        "error: no deployment in 'dev' uses git storage: it needs no runtime image"
    )


@pytest.mark.cli
def test_build_pool_names_the_image_list_shows():
    """`images build --pool` builds exactly what `list` says the pool's deployments run."""
    env = {k: v for k, v in os.environ.items() if k != "IMAGE_TAG"}
    built = run_cli(
        "images", "build", "--pool", "worker-dev", "--env", "dev", "--engine", "buildah",
        "--dry-run", "--", "--pull=never", env=env,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    reference = built.stdout.strip()
    assert "--build-arg PACKAGE=marketing-flows " in built.stderr
    assert f" -t {reference} --pull=never " in built.stderr  # engine arguments after `--`
    listed = run_cli("list", "--env", "dev", "--output", "json", env=env)
    runs = {d["full_name"]: d["runs"] for d in json.loads(listed.stdout)}
    assert runs["marketing-campaign-sync/default"] == f"worker image {reference}"
