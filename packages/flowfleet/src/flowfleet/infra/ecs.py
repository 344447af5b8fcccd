"""The built-in `ecs` infra type: one ECS task per flow run, via prefect-aws's ECS worker.

Every field is a variable of `ECSWorker.get_default_base_job_template()` (prefect-aws
0.7.12), under the same name, so `job_variables()` is a dump of the fields that are set.
Rules that need the pool's defaults (a half-set size, `network_configuration` without a
`vpc_id` set anywhere) are checked in `check_job`, against the pool's template.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

from flowfleet.hookspecs import hookimpl
from flowfleet.infra.base import InfraConfig, JobProblem

# AWS Fargate's accepted task sizes: CPU units -> allowed memory in MiB (AWS's table).
FARGATE_SIZES: dict[int, range] = {
    256: range(512, 2048 + 1, 512),  # 512, 1024, 2048 only: see fargate_problem
    512: range(1024, 4096 + 1, 1024),
    1024: range(2048, 8192 + 1, 1024),
    2048: range(4096, 16384 + 1, 1024),
    4096: range(8192, 30720 + 1, 1024),
    8192: range(16384, 61440 + 1, 4096),
    16384: range(32768, 122880 + 1, 8192),
}
FARGATE_256_MEMORY = (512, 1024, 2048)
FARGATE_LAUNCH_TYPES = (None, "FARGATE", "FARGATE_SPOT")


def fargate_memory(cpu: int) -> list[int]:
    """The memory sizes (MiB) Fargate accepts with `cpu` CPU units."""
    return list(FARGATE_256_MEMORY) if cpu == 256 else list(FARGATE_SIZES[cpu])


def fargate_problem(cpu: int, memory: int) -> str | None:
    """Why Fargate rejects this task size, or None when it accepts it."""
    if cpu not in FARGATE_SIZES:
        known = ", ".join(str(c) for c in FARGATE_SIZES)
        return f"Fargate does not accept cpu={cpu}; use one of {known}"
    allowed = fargate_memory(cpu)
    if memory in allowed:
        return None
    if cpu == 256:
        sizes = f"{', '.join(str(m) for m in allowed[:-1])} or {allowed[-1]} MiB"
    else:
        sizes = f"{allowed[0]}-{allowed[-1]} MiB in steps of {FARGATE_SIZES[cpu].step}"
    return (
        f"Fargate does not accept cpu={cpu} with memory={memory}; with cpu={cpu} use memory {sizes}"
    )


class _AwsShape(BaseModel):
    """Keys as AWS spells them (camelCase) on output; snake_case accepted on input."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class NetworkConfiguration(_AwsShape):
    """The task's `awsvpcConfiguration`: which subnets, security groups and public IP."""

    subnets: list[str] = Field(min_length=1)
    security_groups: list[str] = Field(
        default_factory=list,
        alias="securityGroups",
        validation_alias=AliasChoices("securityGroups", "security_groups"),
    )
    assign_public_ip: Literal["ENABLED", "DISABLED"] | None = Field(
        default=None,
        alias="assignPublicIp",
        validation_alias=AliasChoices("assignPublicIp", "assign_public_ip"),
    )


class CapacityProvider(_AwsShape):
    """One entry of RunTask's `capacityProviderStrategy`."""

    capacity_provider: str = Field(
        alias="capacityProvider",
        validation_alias=AliasChoices("capacityProvider", "capacity_provider"),
    )
    weight: int = Field(default=1, ge=0, le=1000)
    base: int = Field(default=0, ge=0, le=100000)


class EcsTask(InfraConfig):
    """An ECS task per run. Field names are prefect-aws's ECS worker job variables."""

    type: Literal["ecs"] = "ecs"
    pool_type: ClassVar[str] = "ecs"
    uses_image: ClassVar[bool] = True

    cpu: int | None = Field(default=None, gt=0, description="CPU units (1024 = 1 vCPU).")
    memory: int | None = Field(default=None, gt=0, description="Memory in MiB.")
    launch_type: Literal["FARGATE", "FARGATE_SPOT", "EC2", "EXTERNAL"] | None = None
    capacity_provider_strategy: list[CapacityProvider] | None = None
    cluster: str | None = None
    task_role_arn: str | None = None
    execution_role_arn: str | None = None
    vpc_id: str | None = None
    network_configuration: NetworkConfiguration | None = None
    configure_cloudwatch_logs: bool | None = None
    cloudwatch_logs_options: dict[str, str] = Field(default_factory=dict)
    cloudwatch_logs_prefix: str | None = None
    prefect_api_key_secret_arn: str | None = Field(
        default=None, description="A Secrets Manager ARN: the task reads its API key from it."
    )
    prefect_api_auth_string_secret_arn: str | None = None
    task_definition_arn: str | None = None
    family: str | None = None
    container_name: str | None = None
    auto_deregister_task_definition: bool | None = None
    match_latest_revision_in_family: bool | None = None
    labels: dict[str, str] = Field(default_factory=dict, description="Tags on the task.")
    env: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> EcsTask:
        if (
            self.launch_type in FARGATE_LAUNCH_TYPES
            and self.cpu is not None
            and self.memory is not None
            and (problem := fargate_problem(self.cpu, self.memory))
        ):
            raise ValueError(problem)
        if self.capacity_provider_strategy and self.launch_type is not None:
            raise ValueError(
                "capacity_provider_strategy and launch_type are both set; the worker drops "
                "launch_type when a strategy is given: set one of them"
            )
        return self

    def job_variables(self) -> dict[str, Any]:
        nested = {"type", "network_configuration", "capacity_provider_strategy"}
        data = self.model_dump(exclude=nested, exclude_none=True, exclude_defaults=True)
        if self.network_configuration is not None:
            data["network_configuration"] = self.network_configuration.model_dump(
                by_alias=True, exclude_none=True
            )
        if self.capacity_provider_strategy is not None:
            data["capacity_provider_strategy"] = [
                p.model_dump(by_alias=True) for p in self.capacity_provider_strategy
            ]
        return data

    @classmethod
    def base_job_template(cls) -> dict[str, Any] | None:
        return cls.worker_class().get_default_base_job_template()

    @classmethod
    def worker_class(cls) -> type:
        try:
            from prefect_aws.workers.ecs_worker import ECSWorker
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise RuntimeError(
                "the ecs pool template comes from prefect-aws; install flowfleet[aws]"
            ) from exc
        return ECSWorker

    @classmethod
    def render_job(cls, configuration: Any, flow_run: Any, work_pool: Any) -> dict[str, Any]:
        """The task definition the worker registers and the RunTask request it sends.

        Both come from the worker's own methods. The two that ask AWS (the VPC's
        subnets, checking declared subnets against the VPC) are answered without AWS:
        declared subnets are sent as declared; undeclared ones are named, not looked up.
        """
        worker = cls.worker_class()(work_pool_name=work_pool.name)
        worker._logger = _QUIET  # its notes ("removing launchType") are for a real run's log
        worker._load_network_configuration = _subnets_looked_up_at_run_time
        worker._custom_network_configuration = lambda vpc_id, network, conf: {
            "awsvpcConfiguration": network
        }
        region = configuration.aws_credentials.get_boto3_session().region_name
        region = region or "<the worker's AWS region>"
        arn = configuration.task_run_request.get("taskDefinition")
        if arn:
            task_definition: dict[str, Any] = {"existing": arn}
            registered = arn
        else:
            task_definition = worker._prepare_task_definition(configuration, region, flow_run)
            registered = (
                f"<the ARN of the task definition above, family {task_definition['family']}>"
            )
        request = worker._prepare_task_run_request(
            configuration, task_definition, registered, not arn
        )
        return {"task_definition": task_definition, "run_task_request": request}

    @classmethod
    def check_job(cls, variables: dict[str, Any]) -> list[JobProblem]:
        """The rules prefect-aws enforces only when a run starts, checked before deploy.

        `variables` are the pool template's defaults with the deployment's job
        variables laid over them: what the worker will see.
        """
        problems: list[JobProblem] = []
        if variables.get("network_configuration") and not variables.get("vpc_id"):
            problems.append(
                JobProblem(
                    "network_configuration",
                    "network_configuration is set without vpc_id; prefect-aws refuses "
                    "such a job when the run starts",
                    "set vpc_id to the VPC of those subnets",
                )
            )
        if variables.get("cloudwatch_logs_options") and not variables.get(
            "configure_cloudwatch_logs"
        ):
            problems.append(
                JobProblem(
                    "cloudwatch_logs_options",
                    "cloudwatch_logs_options is set but configure_cloudwatch_logs is not",
                    "set configure_cloudwatch_logs=True",
                )
            )
        if variables.get("configure_cloudwatch_logs") and not variables.get("execution_role_arn"):
            problems.append(
                JobProblem(
                    "configure_cloudwatch_logs",
                    "CloudWatch logs need an execution role; none is set",
                    "set execution_role_arn to a role allowed to write logs",
                )
            )
        # The template's defaults carry a launch type: prefect-aws (0.7 s to import) is
        # asked only for a declared template without one, or a size left half unset.
        launch_type = variables.get("launch_type", _UNSET)
        if launch_type is _UNSET:
            launch_type = _worker_default("launch_type")
        size = {"cpu": variables.get("cpu"), "memory": variables.get("memory")}
        given = [k for k, v in size.items() if v is not None]
        if (
            launch_type in FARGATE_LAUNCH_TYPES
            and not variables.get("task_definition_arn")
            and given
            and all(isinstance(size[k], int) for k in given)  # else the schema check says so
        ):
            # The worker fills a missing half with its own default (1024 CPU / 2048 MiB).
            filled = {k: _worker_default(k) for k in size if size[k] is None}
            problem = fargate_problem(
                size["cpu"] or _worker_default("cpu"), size["memory"] or _worker_default("memory")
            )
            if problem and filled:
                [(missing, value)] = filled.items()
                [half] = given
                problems.append(
                    JobProblem(
                        half,
                        f"{half} is set without {missing}, and prefect-aws then uses "
                        f"{missing}={value}: {problem}",
                        f"set {missing} too, e.g. {missing}={_partner(half, size[half])}",
                    )
                )
            elif problem:
                problems.append(
                    JobProblem("memory", problem, "use a size from AWS's Fargate table")
                )
        return problems


def _partner(given: str, value: int) -> int:
    """The smallest Fargate size that goes with the given half."""
    if given == "cpu":
        return fargate_memory(value)[0] if value in FARGATE_SIZES else 2048
    fits = [c for c in FARGATE_SIZES if value in fargate_memory(c)]
    return fits[0] if fits else 1024


_QUIET = logging.getLogger("flowfleet.render.ecs")
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False


def _subnets_looked_up_at_run_time(vpc_id: str | None, configuration: Any) -> dict[str, Any]:
    """What the worker sends when no network_configuration is declared: it asks EC2."""
    vpc = vpc_id or "the default VPC"
    return {
        "awsvpcConfiguration": {
            "subnets": [f"<every subnet of {vpc}, looked up when the run starts>"],
            "assignPublicIp": "ENABLED",
            "securityGroups": [],
        }
    }


@hookimpl
def flowfleet_infra_types() -> list[type[InfraConfig]]:
    return [EcsTask]


_UNSET = object()


def _worker_default(name: str) -> Any:
    """prefect-aws's `ECS_DEFAULT_<name>`: what its worker uses for a variable left unset."""
    from prefect_aws.workers import ecs_worker

    return getattr(ecs_worker, f"ECS_DEFAULT_{name.upper()}")
