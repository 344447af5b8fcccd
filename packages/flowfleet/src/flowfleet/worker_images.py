"""Worker images, and what actually runs each deployment's code.

A deployment on a `process` pool with image storage has no image of its own: its runs
import the flow from whatever is installed where the worker runs. flowfleet makes that
a real artefact: one worker image per such pool, holding every flow package whose
deployments target that pool (with their workspace dependencies, flowfleet and Prefect),
built from the same Dockerfile as the package images (`PACKAGE` lists several).

Its tag is content-addressed from the package tags it holds (each already a hash of the
package's files, its locked dependencies and the Dockerfile), so a worker image changes
exactly when one of its packages would. Pure, apart from `runs_in`, which reads the
session's (lazily hashed) package tags.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from flowfleet.desired import DesiredDeployment
from flowfleet.environments import Environment
from flowfleet.images import TAG_LENGTH, override_tag
from flowfleet.problems import FlowfleetError, Problem

NAME_PREFIX = "flowfleet-worker-"
HOST = "installed on the worker host"


@dataclass(frozen=True)
class WorkerImage:
    """The image a pool's process worker runs in: which packages, and its reference."""

    pool: str
    packages: tuple[str, ...]  # flow distribution names, sorted
    name: str  # the image name, registry included
    tag: str

    @property
    def reference(self) -> str:
        return f"{self.name}:{self.tag}"


def runs_on_worker(deployment: DesiredDeployment) -> bool:
    """A process-pool deployment with image storage: its code must be in the worker's image."""
    return (
        deployment.pool_type == "process"
        and deployment.storage == "image"
        and deployment.image is None
    )


def worker_tag(package_tags: Mapping[str, str]) -> str:
    """A content tag from the packages an image holds and their own content tags."""
    digest = hashlib.sha256(b"flowfleet-worker v1\n")
    for package, tag in sorted(package_tags.items()):
        digest.update(f"package {package} {tag}\n".encode())
    return digest.hexdigest()[:TAG_LENGTH]


def image_name(pool: str, environment: Environment) -> str:
    name = f"{NAME_PREFIX}{pool}"
    return f"{environment.image_registry}/{name}" if environment.image_registry else name


def worker_images(
    deployments: Iterable[DesiredDeployment],
    environment: Environment,
    tags: Mapping[str, str],
    override: str | None = None,
) -> dict[str, WorkerImage]:
    """Pool -> its worker image, for every pool whose runs need one; `override` (an explicit
    tag or `IMAGE_TAG`) replaces every content tag, as it does for package images. A pool
    serving a package from outside the workspace (installed, so no tag) gets none: its
    image could not be built from this repository, so its runs are the worker host's."""
    pools: dict[str, set[str]] = {}
    for deployment in deployments:
        if runs_on_worker(deployment):
            pools.setdefault(deployment.work_pool, set()).add(deployment.package)
    return {
        pool: WorkerImage(
            pool,
            tuple(sorted(packages)),
            image_name(pool, environment),
            override or worker_tag({p: tags[p] for p in packages}),
        )
        for pool, packages in sorted(pools.items())
        if all(p in tags for p in packages)
    }


def runs(
    deployment: DesiredDeployment, workers: Mapping[str, WorkerImage], environment: Environment
) -> str:
    """What runs the deployment's code, in words: `list` and `plan` show it."""
    if deployment.image:
        return f"image {deployment.image}"
    if deployment.storage == "git":
        where = f"runtime image {environment.base_image}" if environment.base_image else HOST
        return f"git clone @ {(deployment.commit or '')[:12]} on the worker, {where}"
    if deployment.storage == "local":
        return "the working tree, on the local worker"
    worker = workers.get(deployment.work_pool)
    if worker and runs_on_worker(deployment):
        return f"worker image {worker.reference}"
    return HOST  # a laptop's local pool, or a pool type flowfleet builds no image for


def runs_by_deployment(
    deployments: list[DesiredDeployment],
    environment: Environment,
    tags: Mapping[str, str],
    override: str | None = None,
) -> dict[str, str]:
    """full_name -> `runs` for every deployment; package tags are read only when needed."""
    needed = any(runs_on_worker(d) for d in deployments)
    workers = worker_images(deployments, environment, tags, override) if needed else {}
    return {d.full_name: runs(d, workers, environment) for d in deployments}


def runtime_packages(deployments: Iterable[DesiredDeployment]) -> tuple[str, ...]:
    """The git-storage packages: the shared runtime image (the environment's `base_image`)
    holds their dependencies and flowfleet, not their code, which each run clones."""
    return tuple(sorted({d.package for d in deployments if d.storage == "git"}))


def runs_in(session: Any, environment: Environment, deployments: list[DesiredDeployment]) -> dict:
    """`runs_by_deployment` with the session's package tags (`IMAGE_TAG` applied)."""
    tags = session.image_tags(environment)
    return runs_by_deployment(deployments, environment, tags, override_tag())


def pick(workers: Mapping[str, WorkerImage], pool: str, environment: Environment) -> WorkerImage:
    """The worker image of `pool`, or one line saying why there is none."""
    if pool in workers:
        return workers[pool]
    known = ", ".join(workers) or "none"
    raise FlowfleetError(
        Problem(
            f"no deployment in '{environment.name}' runs its code from a worker image on "
            f"pool '{pool}' (pools that do: {known})",
            fix="a worker image is for a process pool with image storage: pick one of "
            "those pools; git storage runs in the environment's base_image",
        )
    )
