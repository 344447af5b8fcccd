"""A real image build: the sales image, with buildah, on a Debian base made with debootstrap.

No Docker engine and no image registry are needed. The test installs buildah and
debootstrap with apt-get when they are missing (CI starts on a fresh machine), builds a
Debian bookworm root filesystem (Python 3.11) with debootstrap, imports it as a base image,
then builds `flowfleet images build sales --engine buildah` on it and looks inside.

The root filesystem is cached as a tarball under FLOWFLEET_IMAGE_CACHE (default
~/.cache/flowfleet/image-test) and the base image stays in buildah's storage, so a second
run only builds the package image. Slow (minutes): marked `image`, run by `.ci/run`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from flowfleet.secrets import MASK

pytestmark = pytest.mark.image

ROOT = Path(__file__).resolve().parents[1]
BASE_IMAGE = "localhost/flowfleet-test-base:bookworm"
SUITE = "bookworm"  # Python 3.11, as the workspace requires
MIRROR = os.environ.get("FLOWFLEET_DEBIAN_MIRROR", "http://deb.debian.org/debian")
PACKAGES = "python3,python3-venv,ca-certificates,passwd"
HOST_CA = "/etc/ssl/certs/ca-certificates.crt"
CACHE = Path(
    os.environ.get("FLOWFLEET_IMAGE_CACHE") or Path.home() / ".cache" / "flowfleet" / "image-test"
)
# buildah without a daemon, user namespaces or overlay mounts: vfs storage, chroot isolation.
BUILDAH_ENV = {"STORAGE_DRIVER": "vfs", "BUILDAH_ISOLATION": "chroot"}
IMAGE_TAG = "image-test"


def run(*args: str, **kwargs) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **BUILDAH_ENV, **kwargs.pop("env", {})}
    return subprocess.run(args, capture_output=True, text=True, env=env, **kwargs)


def must(*args: str, **kwargs) -> str:
    result = run(*args, **kwargs)
    assert result.returncode == 0, (
        f"{' '.join(args)} exited {result.returncode}\n{result.stdout[-4000:]}\n"
        f"{result.stderr[-4000:]}"
    )
    return result.stdout


def ensure_tools() -> None:
    missing = [tool for tool in ("buildah", "debootstrap") if not shutil.which(tool)]
    if not missing:
        return
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    must(*sudo, "apt-get", "update", "-q", env=env)
    must(*sudo, "apt-get", "install", "-y", "-q", "buildah", "debootstrap", env=env)


def ensure_base_image() -> None:
    """The debootstrap base in buildah's storage, from the cached tarball when there is one."""
    if run("buildah", "inspect", "--type", "image", BASE_IMAGE).returncode == 0:
        return
    CACHE.mkdir(parents=True, exist_ok=True)
    tarball = CACHE / f"{SUITE}-python.tar"
    if not tarball.is_file():
        rootfs = CACHE / f"{SUITE}-rootfs"
        shutil.rmtree(rootfs, ignore_errors=True)
        must(
            "debootstrap", "--variant=minbase", f"--include={PACKAGES}", SUITE, str(rootfs), MIRROR
        )
        must("rm", "-rf", str(rootfs / "var/cache/apt/archives"), str(rootfs / "var/lib/apt/lists"))
        partial = tarball.with_suffix(".partial")
        must("tar", "-C", str(rootfs), "--numeric-owner", "-cf", str(partial), ".")
        partial.rename(tarball)
        shutil.rmtree(rootfs, ignore_errors=True)
    container = must("buildah", "from", "scratch").strip()
    try:
        must("buildah", "add", container, str(tarball), "/")
        must(
            "buildah",
            "config",
            "--env",
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "--cmd",
            "/bin/bash",
            container,
        )
        must("buildah", "commit", "--rm", container, BASE_IMAGE)
    except BaseException:
        run("buildah", "rm", container)
        raise


def build_image(*selector: str) -> Iterator[str]:
    """Build an image through the CLI, as `make build` does; yield its reference, then remove it.

    The host CA bundle is mounted over the container's so pip and uv reach PyPI through
    whatever TLS setup the host trusts."""
    ensure_tools()
    started = time.monotonic()
    ensure_base_image()
    based = time.monotonic()
    stdout = must(
        sys.executable,
        "-m",
        "flowfleet",
        "images",
        "build",
        *selector,
        "--engine",
        "buildah",
        "--env",
        "dev",
        "--image-tag",
        IMAGE_TAG,
        "--base-image",
        BASE_IMAGE,
        "--",
        "--volume",
        f"{HOST_CA}:{HOST_CA}:ro",
        cwd=ROOT,
        timeout=3600,
    )
    image = stdout.strip().splitlines()[-1]
    print(
        f"\nbase image ready in {based - started:.0f}s, "
        f"{' '.join(selector)} image built in {time.monotonic() - based:.0f}s: {image}"
    )
    try:
        yield image
    finally:
        run("buildah", "rmi", image)


@pytest.fixture(scope="module")
def sales_image() -> Iterator[str]:
    yield from build_image("sales")


@pytest.fixture(scope="module")
def container(sales_image: str) -> Iterator[str]:
    name = must("buildah", "from", sales_image).strip()
    try:
        yield name
    finally:
        run("buildah", "rm", name)


def in_image(container: str, *command: str) -> subprocess.CompletedProcess[str]:
    return run("buildah", "run", container, "--", *command, timeout=600)


def test_the_sales_flow_loads_from_its_entrypoint(container: str) -> None:
    result = in_image(
        container,
        "python",
        "-c",
        "from prefect.flows import load_flow_from_entrypoint\n"
        "flow = load_flow_from_entrypoint('sales_flows.etl:filter_active')\n"
        "print('loaded', flow.name)",
    )
    assert result.returncode == 0, result.stderr
    assert "loaded sales-etl" in result.stdout


def test_no_other_team_package_is_in_the_image(container: str) -> None:
    result = in_image(container, "python", "-c", "import marketing_flows")
    assert result.returncode != 0
    assert "No module named 'marketing_flows'" in result.stderr


def test_the_image_runs_as_non_root(container: str) -> None:
    result = in_image(container, "id", "-u")
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip()) != 0


def test_the_workspace_is_installed_not_editable(container: str) -> None:
    result = in_image(
        container,
        "python",
        "-c",
        "import flowfleet, sales_flows; print(flowfleet.__file__); print(sales_flows.__file__)",
    )
    assert result.returncode == 0, result.stderr
    assert all(line.startswith("/app/.venv/") for line in result.stdout.split()), result.stdout


# --- The image runs what the ECS task would run, and a pool's worker image runs its flows.
# Both run inside the images against the test's Prefect server, over the host's network
# (buildah's chroot isolation shares it).
RENDERED_RUN_IDS = ("PREFECT__FLOW_RUN_ID", "PREFECT__FLOW_ID", "PREFECT__DEPLOYMENT_ID")


@pytest.fixture(scope="module")
def dev_fleet(prefect_server, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The dev environment deployed to the test server; its package images are tagged as
    the images built here (IMAGE_TAG), so `render` names exactly those images."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_API_URL=prefect_server.api_url,
        PREFECT_HOME=str(tmp_path_factory.mktemp("prefect-home")),
        FLOWFLEET_BRANCH="main",
        IMAGE_TAG=IMAGE_TAG,
    )
    must(sys.executable, "-m", "flowfleet", "pools", "--env", "dev", env=env, cwd=ROOT)
    must(sys.executable, "-m", "flowfleet", "deploy", "--env", "dev", env=env, cwd=ROOT)
    return env


def flowfleet_json(env: dict[str, str], *args: str):
    return json.loads(must(sys.executable, "-m", "flowfleet", *args, env=env, cwd=ROOT))


def start_run(env: dict[str, str], name: str) -> dict:
    """`flowfleet run NAME`, then the flow run as the server holds it."""
    out = must(sys.executable, "-m", "flowfleet", "run", name, "--env", "dev", env=env, cwd=ROOT)
    run_id = re.search(r"\(([0-9a-f-]{36})\)", out).group(1)
    return read_run(env, run_id)


def read_run(env: dict[str, str], run_id: str) -> dict:
    response = httpx.get(f"{env['PREFECT_API_URL']}/flow_runs/{run_id}", timeout=30)
    response.raise_for_status()
    return response.json()


def test_the_image_runs_the_command_render_shows_for_its_ecs_task(
    sales_image: str, dev_fleet: dict[str, str]
) -> None:
    rendered = flowfleet_json(
        dev_fleet, "render", "sales-etl/default", "--env", "dev", "--output", "json"
    )
    job = rendered["job"]
    assert job["task_definition"]["containerDefinitions"][0]["image"] == sales_image
    (override,) = job["run_task_request"]["overrides"]["containerOverrides"]
    flow_run = start_run(dev_fleet, "sales-etl/default")
    # render shows a made-up run (its ids are placeholders); the real run's ids replace
    # them, and a masked secret would get its real value from this test. Nothing else.
    real = {
        "PREFECT__FLOW_RUN_ID": flow_run["id"],
        "PREFECT__FLOW_ID": flow_run["flow_id"],
        "PREFECT__DEPLOYMENT_ID": flow_run["deployment_id"],
    }
    environment = {e["name"]: e["value"] for e in override["environment"]}
    assert set(RENDERED_RUN_IDS) <= set(environment)
    masked = [name for name, value in environment.items() if value == MASK]
    assert all(name in dev_fleet for name in masked), masked
    environment.update({name: dev_fleet[name] for name in masked}, **real)
    assert environment["PREFECT_API_URL"] == dev_fleet["PREFECT_API_URL"]

    container = must("buildah", "from", sales_image).strip()
    try:
        flags = [f"--env={name}={value}" for name, value in environment.items()]
        result = run(
            "buildah", "run", "--network", "host", *flags, container, "--",
            *override["command"], timeout=600,
        )  # fmt: skip
    finally:
        run("buildah", "rm", container)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    customers = json.loads((ROOT / "flows/sales/src/sales_flows/data/customers.json").read_text())
    active = sum(1 for c in customers if c.get("active"))
    assert f"kept {active} of {len(customers)} records" in result.stdout + result.stderr
    final = read_run(dev_fleet, flow_run["id"])
    assert final["state"]["type"] == "COMPLETED", final["state"]


@pytest.fixture(scope="module")
def worker_image() -> Iterator[str]:
    yield from build_image("--pool", "worker-dev", "--env", "dev")


def test_the_worker_image_is_the_one_list_names(
    worker_image: str, dev_fleet: dict[str, str]
) -> None:
    listed = flowfleet_json(dev_fleet, "list", "--env", "dev", "--output", "json")
    runs = {d["full_name"]: d["runs"] for d in listed}
    assert runs["marketing-campaign-sync/default"] == f"worker image {worker_image}"
    assert runs["sales-etl/default"] == f"image ghcr.io/acme/sales-flows:{IMAGE_TAG}"


def test_the_worker_image_holds_the_pools_packages_only(worker_image: str) -> None:
    container = must("buildah", "from", worker_image).strip()
    try:
        result = in_image(
            container,
            "python",
            "-c",
            "import importlib.util, marketing_flows, flowfleet_kubernetes, prefect\n"
            "print('sales_flows:', importlib.util.find_spec('sales_flows'))",
        )
    finally:
        run("buildah", "rm", container)
    assert result.returncode == 0, result.stderr
    assert "sales_flows: None" in result.stdout  # the pool runs no sales deployment


def test_a_process_worker_in_the_worker_image_runs_a_flow(
    worker_image: str, dev_fleet: dict[str, str]
) -> None:
    flow_run = start_run(dev_fleet, "marketing-campaign-sync/default")
    container = must("buildah", "from", worker_image).strip()
    try:
        result = run(
            "buildah", "run", "--network", "host",
            f"--env=PREFECT_API_URL={dev_fleet['PREFECT_API_URL']}", container, "--",
            "prefect", "worker", "start", "--pool", "worker-dev", "--type", "process",
            "--run-once", timeout=600,
        )  # fmt: skip
    finally:
        run("buildah", "rm", container)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    final = read_run(dev_fleet, flow_run["id"])
    assert final["state"]["type"] == "COMPLETED", (final["state"], result.stdout[-3000:])
