"""The built-in `worker` infra type: a long-running, stateful Prefect worker."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from flowfleet.hookspecs import hookimpl
from flowfleet.infra.base import InfraConfig


class Worker(InfraConfig):
    """Runs on a long-lived worker: as a local process (default) or a Docker container.

    Use it for flows that want warm caches, local disks or a fixed network identity.
    """

    type: Literal["worker"] = "worker"
    pool_type: ClassVar[str] = "process"
    uses_image: ClassVar[bool] = False

    kind: Literal["process", "docker"] = "process"
    env: dict[str, str] = Field(default_factory=dict)
    working_dir: str | None = None

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
