"""The `kubernetes` infra type: one Kubernetes job per flow run, via prefect-kubernetes's worker.

This package is the model for third-party flowfleet plugins. It touches no core
file: the entry point in its `pyproject.toml` names this module, and flowfleet
registers it as a plugin, so the `flowfleet_infra_types` hookimpl below adds the
`kubernetes` type to every command.

Every field name is a variable name of `KubernetesWorker`'s base job template, so
`job_variables()` is a plain dump of the fields that are set.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from flowfleet import InfraConfig, hookimpl

__version__ = "0.1.0"

__all__ = ["KubernetesJob", "flowfleet_infra_types", "parse_quantity"]

# Kubernetes resource quantities: a non-negative decimal number and an optional
# suffix, binary-SI (Ki..Ei), decimal-SI (m, k, M..E) or a decimal exponent (e3).
_QUANTITY = re.compile(
    r"^(?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$"
)
_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}

# DNS-1123 label (namespaces) and subdomain (service account names).
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

_EXAMPLES = {"cpu": "'500m', '1' or '2.5'", "memory": "'512Mi', '2Gi' or '1G'"}


def parse_quantity(text: str) -> Decimal:
    """The value of a Kubernetes quantity ("500m" -> 0.5, "2Gi" -> 2147483648).

    Raises `ValueError` for anything Kubernetes would reject.
    """
    match = _QUANTITY.match(text)
    if not match:
        raise ValueError(f"'{text}' is not a Kubernetes quantity")
    number = Decimal(match["number"])
    suffix = match["suffix"] or ""
    if suffix in _BINARY:
        return number * (Decimal(1024) ** _BINARY[suffix])
    if suffix in _DECIMAL:
        return number.scaleb(_DECIMAL[suffix])
    return number.scaleb(int(suffix[1:]))


def _check_quantity(value: Any, resource: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(
            f"expected a Kubernetes quantity such as {_EXAMPLES[resource]}, "
            f"got {type(value).__name__}"
        )
    text = str(value).strip()
    try:
        parse_quantity(text)
    except ValueError:
        raise ValueError(
            f"'{value}' is not a Kubernetes {resource} quantity; use e.g. {_EXAMPLES[resource]}"
        ) from None
    if resource == "memory" and text.endswith("m"):
        # Valid to Kubernetes, but it means milli-bytes: always a typo for Mi.
        raise ValueError(
            f"'{value}' means {text[:-1]} thousandths of a byte; "
            f"write '{text[:-1]}Mi' (mebibytes) or '{text[:-1]}M' (megabytes)"
        )
    return text


class KubernetesJob(InfraConfig):
    """A Kubernetes job per run. Field names are prefect-kubernetes's job variables."""

    type: Literal["kubernetes"] = "kubernetes"
    pool_type: ClassVar[str] = "kubernetes"
    uses_image: ClassVar[bool] = True

    cpu_request: str | None = Field(default=None, description="e.g. '500m' or '1'.")
    cpu_limit: str | None = Field(default=None, description="e.g. '1' or '2'.")
    memory_request: str | None = Field(default=None, description="e.g. '512Mi' or '2Gi'.")
    memory_limit: str | None = Field(default=None, description="e.g. '1Gi' or '4Gi'.")
    namespace: str | None = Field(default=None, description="The template's default: 'default'.")
    service_account_name: str | None = None
    image_pull_policy: Literal["IfNotPresent", "Always", "Never"] | None = None
    finished_job_ttl: int | None = Field(
        default=None,
        ge=0,
        description="Seconds a finished Job is kept before Kubernetes deletes it.",
    )
    backoff_limit: int | None = Field(
        default=None, ge=0, description="Pod retries; the template's default is 0."
    )
    pod_watch_timeout_seconds: int | None = Field(default=None, gt=0)
    job_watch_timeout_seconds: int | None = Field(default=None, gt=0)
    labels: dict[str, str] = Field(default_factory=dict, description="On the Job and its pod.")
    annotations: dict[str, str] = Field(
        default_factory=dict, description="On the Job and its pod (IRSA, Workload Identity...)."
    )
    stream_output: bool | None = None
    env: dict[str, str] = Field(default_factory=dict)

    @field_validator("cpu_request", "cpu_limit", mode="before")
    @classmethod
    def _cpu(cls, value: Any) -> str | None:
        return _check_quantity(value, "cpu")

    @field_validator("memory_request", "memory_limit", mode="before")
    @classmethod
    def _memory(cls, value: Any) -> str | None:
        return _check_quantity(value, "memory")

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str | None) -> str | None:
        if value is not None and (len(value) > 63 or not _DNS_LABEL.match(value)):
            raise ValueError(
                f"'{value}' is not a Kubernetes namespace name: use at most 63 lowercase "
                "letters, digits and '-', starting and ending with a letter or digit"
            )
        return value

    @field_validator("service_account_name")
    @classmethod
    def _service_account(cls, value: str | None) -> str | None:
        if value is not None and (len(value) > 253 or not _DNS_SUBDOMAIN.match(value)):
            raise ValueError(
                f"'{value}' is not a Kubernetes service account name: use lowercase "
                "letters, digits, '-' and '.', starting and ending with a letter or digit"
            )
        return value

    @model_validator(mode="after")
    def _requests_within_limits(self) -> KubernetesJob:
        for resource in ("cpu", "memory"):
            request = getattr(self, f"{resource}_request")
            limit = getattr(self, f"{resource}_limit")
            if request and limit and parse_quantity(request) > parse_quantity(limit):
                raise ValueError(
                    f"{resource}_request '{request}' is above {resource}_limit '{limit}'; "
                    "Kubernetes rejects such a pod"
                )
        return self

    def job_variables(self) -> dict[str, Any]:
        return self.model_dump(exclude={"type"}, exclude_none=True, exclude_defaults=True)

    @classmethod
    def base_job_template(cls) -> dict[str, Any] | None:
        return cls.worker_class().get_default_base_job_template()

    @classmethod
    def worker_class(cls) -> type:
        # Imported here: prefect-kubernetes takes seconds to import, and only `pools`,
        # `validate` and `render` need it.
        from prefect_kubernetes.worker import KubernetesWorker

        return KubernetesWorker

    @classmethod
    def render_job(cls, configuration: Any, flow_run: Any, work_pool: Any) -> dict[str, Any]:
        """The Job manifest the worker creates: `prepare_for_flow_run` has filled it."""
        return {"job_manifest": configuration.job_manifest}


@hookimpl
def flowfleet_infra_types() -> list[type[InfraConfig]]:
    return [KubernetesJob]
