"""Which infra type a deployment uses, and where it runs: pool, pool type, image, job variables.

The infra type comes from the config, else the package's `default_infra`, else the
environment's, else FALLBACK_INFRA; it is validated against the infra types the plugins
registered. The placement then follows from the environment (a laptop's single pool
wins), the storage mode (git storage runs in one shared runtime image) and the
package's image tag.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from flowfleet.config import DeploymentConfig
from flowfleet.facts import Storage
from flowfleet.infra.base import InfraConfig

if TYPE_CHECKING:
    from flowfleet.resolve import Context

FALLBACK_INFRA = "worker"


@dataclass(frozen=True)
class Placement:
    """Where a deployment runs: its pool, the pool's type, its image and job variables."""

    infra: str  # the infra type's name
    work_pool: str
    pool_type: str
    image: str | None
    job_variables: dict[str, Any]


def validated_infra(
    ctx: Context,
    package: str,
    config: DeploymentConfig,
    problem: Any,
    override: dict[str, Any],
) -> InfraConfig | None:
    value: InfraConfig | dict[str, Any] = config.infra or {"type": default_infra(ctx, package)}
    # An infra set by an environment's override is reported under that environment.
    prefix = f"overrides.{ctx.facts.environment.name}.infra" if "infra" in override else "infra"
    try:
        return ctx.fleet.plugins.infra_types.validate(value)
    except ValueError as exc:
        if isinstance(exc, ValidationError):
            for error in exc.errors():
                loc = ".".join(str(p) for p in error["loc"][1:])  # [0] is the type
                field_name = f"{prefix}.{loc}" if loc else prefix
                problem(error["msg"].removeprefix("Value error, "), field_name)
        else:
            problem(str(exc), "infra", "install the plugin that provides it, or use a known type")
        return None


def default_infra(ctx: Context, package: str) -> str:
    member = ctx.facts.member(package)
    return (
        (member.options.get("default_infra") if member else None)
        or ctx.facts.environment.default_infra
        or FALLBACK_INFRA
    )


def place(
    ctx: Context,
    package: str,
    config: DeploymentConfig,
    infra: InfraConfig,
    storage: Storage,
    problem: Any,
) -> Placement | None:
    """Pool, pool type, image and job variables; None (with a problem) when no image fits."""
    env = ctx.facts.environment
    # A single-pool environment (a laptop) wins over a deployment's own `work_pool`.
    work_pool = env.single_pool or config.work_pool or env.pool_for(infra.pool_key(), package)
    job_variables: dict[str, Any] = {}
    image = None
    if env.single_pool:
        pool_type = "process"
        env_vars = getattr(infra, "env", None)
        if env_vars:
            job_variables["env"] = dict(env_vars)
    else:
        pool_type = infra.work_pool_type()
        job_variables.update(infra.job_variables())
        if infra.needs_image() and storage.mode == "git":
            # Git storage: the code comes from the clone, the runtime from one shared image.
            image = config.image or env.base_image
            if image is None:
                if (package, "base_image") not in ctx.reported:
                    ctx.reported.add((package, "base_image"))
                    env_file = ctx.facts.env_file
                    problem(
                        f"git storage runs in the environment's shared runtime image, and "
                        f"{env_file} sets no base_image",
                        "image",
                        f'set base_image = "<registry>/<runtime>:<tag>" in {env_file}',
                    )
                return None
            job_variables["image"] = image
        elif infra.needs_image():
            member = ctx.facts.member(package)
            image = _image(ctx, package, member.image_name if member else package, config)
            job_variables["image"] = image
    job_variables.update(config.job_variables)
    return Placement(infra.type, work_pool, pool_type, image, job_variables)


def _image(ctx: Context, package: str, image_name: str, config: DeploymentConfig) -> str:
    registry = ctx.facts.environment.image_registry
    tag = ctx.facts.image_tags.get(package) or ctx.facts.default_tag
    name = config.image or image_name
    if registry and "/" not in name:
        name = f"{registry}/{name}"
    if "@" not in name and ":" not in name.rsplit("/", 1)[-1]:
        name = f"{name}:{tag}"
    return name
