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

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

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


@pytest.fixture(scope="module")
def sales_image() -> Iterator[str]:
    ensure_tools()
    started = time.monotonic()
    ensure_base_image()
    based = time.monotonic()
    # Through the CLI, as `make build` does. The host CA bundle is mounted over the
    # container's so pip and uv reach PyPI through whatever TLS setup the host trusts.
    stdout = must(
        sys.executable,
        "-m",
        "flowfleet",
        "images",
        "build",
        "sales",
        "--engine",
        "buildah",
        "--env",
        "dev",
        "--image-tag",
        "image-test",
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
        f"sales image built in {time.monotonic() - based:.0f}s: {image}"
    )
    try:
        yield image
    finally:
        run("buildah", "rmi", image)


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
