"""The built-in `worker` infra type: a long-running, stateful Prefect worker."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from flowfleet.hookspecs import hookimpl
from flowfleet.infra.base import InfraConfig


class Worker(InfraConfig):
    """Runs on a long-lived worker: as a local process (default) or a Docker container.

    Use it for flows that want warm caches, local disks or a fixed network identity.
    The pool's template is the worker's own: Prefect's process worker, or
    prefect-docker's `DockerWorker` (install `flowfleet[docker]`).
    """

    type: Literal["worker"] = "worker"
    pool_type: ClassVar[str] = "process"
    uses_image: ClassVar[bool] = False

    kind: Literal["process", "docker"] = "process"
    env: dict[str, str] = Field(default_factory=dict)
    working_dir: str | None = None

    @model_validator(mode="after")
    def _docker_has_no_working_dir(self) -> Worker:
        if self.kind == "docker" and self.working_dir is not None:
            raise ValueError(
                "working_dir is a process-worker variable; a docker worker runs in the "
                "image's WORKDIR: drop working_dir, or set WORKDIR in the image"
            )
        return self

    def work_pool_type(self) -> str:
        return self.kind

    def needs_image(self) -> bool:
        return self.kind == "docker"

    def pool_key(self) -> str:
        return "worker" if self.kind == "process" else "worker-docker"

    def job_variables(self) -> dict[str, Any]:
        return self.model_dump(exclude={"type", "kind"}, exclude_none=True, exclude_defaults=True)


@hookimpl
def flowfleet_infra_types() -> list[type[InfraConfig]]:
    return [Worker]
