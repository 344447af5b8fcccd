"""Every hook flowfleet calls. Plugins implement them with `@flowfleet.hookimpl`.

A plugin is whatever an entry point in the `flowfleet` group names: a module,
or an object (such as a team's `Registry`) with hookimpl-marked methods.
flowfleet calls every hook through pluggy; an implementation may take fewer
arguments than its spec, never others. A hookimpl whose name is not below is
reported as a problem (pluggy's `check_pending`), not silently ignored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from flowfleet.desired import DesiredDeployment
    from flowfleet.environments import Environment
    from flowfleet.infra.base import InfraConfig
    from flowfleet.registry import Registry

PROJECT_NAME = "flowfleet"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def flowfleet_registries() -> list[Registry]:
    """Return the registries a flow package contributes.

    :return: a list of `flowfleet.Registry`; anything else in it is ignored. A
        registry returned by several plugins is loaded once.

    Called once per command, after every plugin is registered. A team's entry
    point usually names its `Registry` directly, which implements this hook itself.
    A plugin whose implementation raises becomes a problem naming it, and pruning
    is refused for that run.
    """


@hookspec
def flowfleet_infra_types() -> list[type[InfraConfig]]:
    """Return the infra types (subclasses of `InfraConfig`) a plugin adds.

    :return: a list of `InfraConfig` subclasses, each with a `type` literal
        (`type: Literal["batch"] = "batch"`). Anything else, or a `type` another
        plugin already contributes, becomes a problem naming this plugin.

    Called once, when the infra-type union is built (and again after a plugin is
    registered or unregistered). Each class's `type` literal must be unique
    across all plugins.
    """


@hookspec
def flowfleet_adjust_deployment(deployment: DesiredDeployment, environment: Environment) -> None:
    """Edit one resolved deployment in place: an organisation-wide policy.

    :param deployment: the resolved `DesiredDeployment`. Assign to its fields
        (`deployment.tags = [...]`, `deployment.job_variables = {...}`); each
        assignment is validated. Its identity (`flow`, `name`, `full_name`)
        and its `labels` are flowfleet's: leave them.
    :param environment: the `Environment` being resolved (read only): its `name`,
        `pools`, `image_registry` and the other keys of `infra/environments/<env>.toml`.
    :return: nothing; the return value is ignored.

    Called for every deployment of the environment being resolved, after its
    config, overrides and infra type are applied and before its spec hash is
    taken, so the edit is part of what gets planned and deployed. Implementations
    run newest-registered first; the first that raises stops the deployment with a
    problem naming the plugin.
    """
