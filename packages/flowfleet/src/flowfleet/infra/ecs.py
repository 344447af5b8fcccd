"""The built-in `ecs` infra type: one ECS task per flow run, via prefect-aws's ECS worker."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from flowfleet.hookspecs import hookimpl
from flowfleet.infra.base import InfraConfig

# AWS Fargate's accepted task sizes: CPU units -> allowed memory in MiB.
FARGATE_SIZES: dict[int, range] = {
    256: range(512, 2048 + 1, 512),
    512: range(1024, 4096 + 1, 1024),
    1024: range(2048, 8192 + 1, 1024),
    2048: range(4096, 16384 + 1, 1024),
    4096: range(8192, 30720 + 1, 1024),
    8192: range(16384, 61440 + 1, 4096),
    16384: range(32768, 122880 + 1, 8192),
}


def _fargate_memory(cpu: int) -> str:
    allowed = FARGATE_SIZES[cpu]
    return f"{allowed.start}-{allowed.stop - 1} MiB in steps of {allowed.step}"


class EcsTask(InfraConfig):
    """An ECS task per run. Keys follow prefect-aws's ECS worker job variables."""

    type: Literal["ecs"] = "ecs"
    pool_type: ClassVar[str] = "ecs"
    uses_image: ClassVar[bool] = True

    cpu: int | None = Field(default=None, gt=0, description="CPU units (1024 = 1 vCPU).")
    memory: int | None = Field(default=None, gt=0, description="Memory in MiB.")
    launch_type: Literal["FARGATE", "FARGATE_SPOT", "EC2", "EXTERNAL"] | None = None
    task_role_arn: str | None = None
    execution_role_arn: str | None = None
    cluster: str | None = None
    env: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check_fargate_size(self) -> EcsTask:
        if self.launch_type not in (None, "FARGATE", "FARGATE_SPOT"):
            return self
        if self.cpu is None or self.memory is None:
            return self
        if self.cpu not in FARGATE_SIZES:
            known = ", ".join(str(c) for c in FARGATE_SIZES)
            raise ValueError(f"Fargate does not accept cpu={self.cpu}; use one of {known}")
        if self.memory not in FARGATE_SIZES[self.cpu]:
            raise ValueError(
                f"Fargate does not accept cpu={self.cpu} with memory={self.memory}; "
                f"with cpu={self.cpu} use memory {_fargate_memory(self.cpu)}"
            )
        return self

    def job_variables(self) -> dict[str, Any]:
        return self.model_dump(exclude={"type"}, exclude_none=True, exclude_defaults=True)

    @classmethod
    def base_job_template(cls) -> dict[str, Any] | None:
        try:
            from prefect_aws.workers.ecs_worker import ECSWorker
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise RuntimeError(
                "the ecs pool template comes from prefect-aws; install flowfleet[aws]"
            ) from exc
        return ECSWorker.get_default_base_job_template()


@hookimpl
def flowfleet_infra_types() -> list[type[InfraConfig]]:
    return [EcsTask]
