"""A deployment's work pool and job variables mapped back to a typed infra config. Pure.

The environment's `[pools]` say which infra type deploys to which pool; this
module runs that backwards, moving into the infra type the job variables it has
fields for, and the image when flowfleet's `image=` would write it back unchanged.
"""

from __future__ import annotations

import typing
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

import flowfleet
from flowfleet.environments import Environment
from flowfleet.importer.existing import ExistingDeployment
from flowfleet.importer.pysource import Call
from flowfleet.infra.base import InfraConfig

if TYPE_CHECKING:
    from flowfleet.importer.mapping import Target


def infra_arguments(
    existing: ExistingDeployment,
    target: Target,
    pool: str | None,
    job_variables: dict[str, Any],
    problem: Any,
) -> tuple[Call | None, str | None, dict[str, Any], str | None]:
    """(infra, work_pool override, raw job variables left, image) for the deployment.

    The pool maps back to an infra type through the environment's `[pools]`; a pool
    the environment does not name stays a `work_pool=` override, typed by the pool's
    type when the server told it.
    """
    if pool is None:
        return None, None, job_variables, None
    env = target.environment
    candidates = _candidates(target.infra_types)
    by_env = [
        c
        for c in candidates
        if env is not None
        and env.pool_for(c.pool_key(), target.package) == pool
        and existing.pool_type in (None, c.work_pool_type())
    ]
    override: str | None = None
    if by_env:
        chosen = _prefer(by_env, target.default_infra)
    else:
        override = pool
        by_type = [c for c in candidates if c.work_pool_type() == existing.pool_type]
        chosen = _prefer(by_type, target.default_infra) if by_type else None
        if chosen is None and existing.pool_type is not None:
            problem(
                "work_pool",
                f"work pool '{pool}' has type '{existing.pool_type}', which no installed "
                f"infra type deploys to (known: {', '.join(sorted(target.infra_types))})",
                "install the plugin for that pool type, then import again",
            )
    if chosen is None:
        return None, override, job_variables, None
    infra, job_variables = _typed(chosen, job_variables)
    image = None
    if infra.needs_image() and _keeps_image(job_variables.get("image"), env):
        image = job_variables.pop("image")
    fields = infra.model_dump(exclude_defaults=True, exclude={"type"})
    if infra.type == target.default_infra and not fields:
        return None, override, job_variables, image
    cls = type(infra)
    module = "flowfleet" if getattr(flowfleet, cls.__name__, None) is cls else cls.__module__
    return Call(cls.__name__, module, tuple(fields.items())), override, job_variables, image


def _candidates(types: dict[str, type[InfraConfig]]) -> list[InfraConfig]:
    """One default instance per infra type, and one per value of a `Literal` field with a
    default (the worker's `kind`), since those change the pool a type needs."""
    found: list[InfraConfig] = []
    for name in sorted(types):
        cls = types[name]
        try:
            found.append(cls())
        except ValidationError:
            continue
        for field_name, info in cls.model_fields.items():
            if field_name == "type" or info.default is None:
                continue
            if typing.get_origin(info.annotation) is typing.Literal:
                for value in typing.get_args(info.annotation):
                    if value != info.default:
                        found.append(cls(**{field_name: value}))
    return found


def _prefer(candidates: list[InfraConfig], default_infra: str) -> InfraConfig:
    return next((c for c in candidates if c.type == default_infra), candidates[0])


def _typed(base: InfraConfig, job_variables: dict[str, Any]) -> tuple[InfraConfig, dict[str, Any]]:
    """Move the job variables the infra type has fields for into it, keeping only those
    it writes back unchanged; the rest stay raw."""
    cls = type(base)
    variant = base.model_dump(exclude_defaults=True, exclude={"type"})
    keys = [k for k in job_variables if k in cls.model_fields and k != "type" and k not in variant]
    while keys:
        try:
            infra = cls(**variant, **{k: job_variables[k] for k in keys})
        except ValidationError:
            break
        written = infra.job_variables()
        same = [k for k in keys if k in written and written[k] == job_variables[k]]
        if same == keys and all(k in keys for k in written):
            return infra, {k: v for k, v in job_variables.items() if k not in keys}
        keys = same if same != keys else []
    return base, job_variables


def _keeps_image(image: Any, env: Environment | None) -> bool:
    """True when flowfleet's `image=` writes this exact reference back: it has a tag or
    digest, and no registry prefix would be added."""
    if not isinstance(image, str) or not image:
        return False
    tagged = "@" in image or ":" in image.rsplit("/", 1)[-1]
    registry = env.image_registry if env else None
    return tagged and ("/" in image or not registry)
