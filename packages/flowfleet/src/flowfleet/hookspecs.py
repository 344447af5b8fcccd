"""Every hook flowfleet calls. Plugins implement them with `@flowfleet.hookimpl`.

A plugin is whatever an entry point in the `flowfleet` group names: a module,
or an object (such as a team's `Registry`) with hookimpl-marked methods.
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

    Called once per command, after every plugin is registered. A team's entry
    point usually names its `Registry` directly, which implements this hook itself.
    """


@hookspec
def flowfleet_infra_types() -> list[type[InfraConfig]]:
    """Return the infra types (subclasses of `InfraConfig`) a plugin adds.

    Called once, when the infra-type union is built. Each class's `type`
    literal must be unique across all plugins.
    """


@hookspec
def flowfleet_adjust_deployment(deployment: DesiredDeployment, environment: Environment) -> None:
    """Edit one resolved deployment in place: an organisation-wide policy.

    Called for every deployment of the environment being resolved, after its
    config, overrides and infra type are applied and before its spec hash is
    taken, so the edit is part of what gets planned and deployed.
    """
