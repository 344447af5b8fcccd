"""`DesiredDeployment`: one fully resolved deployment. Pure data, no server."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from flowfleet import secrets
from flowfleet.spec import OPTIONAL, DeploymentSpec, Schedule
from flowfleet.triggers import TriggerSpec

LABEL_PREFIX = "flowfleet."
RESERVED_LABEL_PREFIXES = (LABEL_PREFIX, "prefect.")  # flowfleet's and the server's own
MANAGED = "flowfleet.managed"
PROJECT = "flowfleet.project"
ENV = "flowfleet.env"
PACKAGE = "flowfleet.package"
SPEC = "flowfleet.spec"
ACTIVE = "flowfleet.active"
BRANCH = "flowfleet.branch"


# Kept for planning and caching, left out of `flowfleet list`.
INTERNAL_FIELDS = {"pool_type", "pull_steps", "source", "signature", "parameter_schema"}


class DesiredDeployment(BaseModel):
    """What one deployment should look like on the server in one environment.

    Plugins' `flowfleet_adjust_deployment` may edit it; the spec hash is taken
    after that, by `finalise()`.
    """

    model_config = ConfigDict(validate_assignment=True)

    package: str
    flow: str
    name: str
    full_name: str
    entrypoint: str
    work_pool: str
    work_queue: str | None = None  # None: the pool's default queue
    pool_type: str
    infra: str
    image: str | None = None
    job_variables: dict[str, Any] = Field(default_factory=dict)
    schedules: list[Schedule] = Field(default_factory=list)
    paused: bool = False
    parameters: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)
    description: str | None = None
    version: str | None = None
    concurrency_limit: int | None = None
    concurrency_options: dict[str, Any] | None = None
    enforce_parameter_schema: bool | None = None
    user_labels: dict[str, str] = Field(default_factory=dict)  # under `labels`, which win
    triggers: list[TriggerSpec] = Field(default_factory=list)  # automations, not in the spec
    pull_steps: list[dict[str, Any]] | None = None
    storage: str = "image"  # "image", "git" or "local" (a single-pool laptop), see gitstorage
    commit: str | None = None  # git storage: the commit the pull steps are pinned to
    source: str = ""  # "path:line" of the decorator, for messages
    signature: str = ""  # the flow's signature: part of the spec hash
    parameter_schema: dict[str, Any] | None = None  # filled when the flow is not at hand

    _flow: Any = PrivateAttr(default=None)

    def spec(self) -> DeploymentSpec:
        """Everything that is written to the server and compared by `plan`."""
        return DeploymentSpec(
            entrypoint=self.entrypoint,
            work_pool=self.work_pool,
            work_queue=self.work_queue,
            job_variables=self.job_variables,
            schedules=self.schedules,
            active=not self.paused,
            parameters=self.parameters,
            tags=sorted(self.tags),
            description=self.description,
            version=self.version,
            concurrency_limit=self.concurrency_limit,
            pull_steps=self.pull_steps,
            labels=self.user_labels,
            concurrency_options=self.concurrency_options,
            enforce_parameter_schema=self.enforce_parameter_schema,
            signature=self.signature,
        )

    def optional_fields(self) -> dict[str, Any]:
        """The write body's newer fields: concurrency options always (None clears them),
        `enforce_parameter_schema` only when the code sets it."""
        fields: dict[str, Any] = {"concurrency_options": self.concurrency_options}
        if self.enforce_parameter_schema is not None:
            fields["enforce_parameter_schema"] = self.enforce_parameter_schema
        return fields

    def spec_hash(self) -> str:
        return self.spec().hash()

    def flow_parameter_schema(self) -> dict[str, Any] | None:
        """The OpenAPI schema of the flow's parameters, as the server's UI and runs use it.

        Prefect computes it when it decorates the flow (`Flow.parameters`); computing it
        again, as `parameter_schema(flow)` does, cost 8 s of a 1,000-flow cold validate.
        """
        if self.parameter_schema is None and self._flow is not None:
            schema = getattr(self._flow, "parameters", None)
            if schema is None:
                from prefect.utilities.callables import parameter_schema

                schema = parameter_schema(self._flow)
            self.parameter_schema = schema.model_dump()
        return self.parameter_schema

    def finalise(self) -> DesiredDeployment:
        """Stamp the ownership labels; call after every edit."""
        self.labels = {
            **self.labels,
            SPEC: self.spec_hash(),
            ACTIVE: "false" if self.paused else "true",
        }
        return self

    def listing(self) -> dict[str, Any]:
        """The `flowfleet list --output json` object, secret values masked."""
        data = self.model_dump(mode="json", exclude=INTERNAL_FIELDS)
        data["schedules"] = [s.compact() for s in self.schedules]
        for name, default in OPTIONAL.items():  # `list` shows the newer fields only when set
            key = "user_labels" if name == "labels" else name
            if data.get(key) == default:
                data.pop(key, None)
        if not data.get("triggers"):
            data.pop("triggers", None)  # shown only when there are some
        if data.get("commit") is None:
            data.pop("commit", None)  # only git storage has one
        return secrets.mask(data)
