"""The base class every infra type, built-in or plugin, derives from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict


@dataclass(frozen=True)
class JobProblem:
    """A job variable the worker would reject or ignore: which one, why, and the fix."""

    field: str
    message: str
    fix: str | None = None


class InfraConfig(BaseModel):
    """Where and how a deployment's runs execute.

    A subclass declares `type: Literal["<name>"] = "<name>"`, the Prefect work-pool
    type it needs (`pool_type`), whether its runs need a container image
    (`uses_image`), and the job variables it contributes. The job-variable keys
    must be the variable names of that pool type's base job template.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    pool_type: ClassVar[str] = "process"
    uses_image: ClassVar[bool] = False

    def job_variables(self) -> dict[str, Any]:
        """Job variables for the work pool, using its template's variable names."""
        return {}

    @classmethod
    def base_job_template(cls) -> dict[str, Any] | None:
        """The base job template for pools of this type; None means Prefect's default."""
        return None

    @classmethod
    def check_job(cls, variables: dict[str, Any]) -> list[JobProblem]:
        """Rules the worker enforces only at run time, checked before anything is deployed.

        `variables` are the pool template's defaults with the deployment's job variables
        laid over them, as the worker sees them. The template's JSON schema is checked
        separately (see `flowfleet.infra.templates`).
        """
        return []

    @classmethod
    def worker_class(cls) -> type | None:
        """The Prefect worker class of `pool_type`; `flowfleet render` builds jobs with it."""
        return None

    @classmethod
    def render_job(cls, configuration: Any, flow_run: Any, work_pool: Any) -> dict[str, Any]:
        """What the worker submits for one flow run, from its prepared job configuration.

        `configuration` is the worker's own job configuration, already built from the
        pool template and the deployment's job variables and prepared for `flow_run`.
        """
        return configuration.model_dump(mode="json")

    # Instance-level views of the class settings: a type may vary them by field
    # (the stateful worker runs as a process or in Docker).
    def work_pool_type(self) -> str:
        return type(self).pool_type

    def needs_image(self) -> bool:
        return type(self).uses_image

    def pool_key(self) -> str:
        """The key this infra type is looked up by in an environment's `[pools]`."""
        return self.type
