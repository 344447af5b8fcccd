"""One CLI invocation's view of the workspace: loaded once, shared by every command."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property

from flowfleet import secrets
from flowfleet.cache import ResolveCache
from flowfleet.cache import enabled as cache_enabled
from flowfleet.environments import Environment, environment_names, load_environment
from flowfleet.facts import Facts
from flowfleet.loader import Fleet, load_fleet, package_of
from flowfleet.plugins import Plugins, load_plugins
from flowfleet.resolve import Resolution, resolve
from flowfleet.workspace import Workspace


@dataclass
class Session:
    workspace: Workspace = field(default_factory=Workspace.find)
    plugins: Plugins | None = None

    @cached_property
    def known_environments(self) -> list[str]:
        return environment_names(self.workspace.environments_dir)

    def environment(self, name: str) -> Environment:
        return load_environment(self.workspace.environments_dir, name)

    @cached_property
    def loaded_plugins(self) -> Plugins:
        return self.plugins or load_plugins()

    @cached_property
    def fleet(self) -> Fleet:
        """Every package, imported. `resolve(cached=True)` may narrow this to the misses."""
        return load_fleet(self.loaded_plugins)

    def resolve(
        self, environment: Environment, branch: str | None = None, *, cached: bool = False
    ) -> Resolution:
        """Resolve one environment; with `cached`, unchanged packages skip their import.

        The facts are gathered once, after loading (for the packages that loaded), and
        handed to the pure `resolve`. Secret values are learnt here, at the boundary, so
        error lines mask them.
        """
        cache = (
            self._cache(environment, branch) if cached and "fleet" not in self.__dict__ else None
        )
        hits = cache.lookup(self._package_names()) if cache else {}
        if cache:
            self.__dict__["fleet"] = load_fleet(self.loaded_plugins, skip=frozenset(hits))
        facts = self.facts(environment, branch, self.fleet.loaded_packages)
        resolution = resolve(
            self.fleet, facts, resolved=[d for deployments in hits.values() for d in deployments]
        )
        for deployment in resolution.deployments:
            secrets.remember([deployment.job_variables, deployment.parameters])
        if cache:
            cache.store(resolution, self.fleet)
        return resolution

    def facts(
        self, environment: Environment, branch: str | None, packages: Iterable[str] = ()
    ) -> Facts:
        """What resolving `packages` needs to know, read once (see facts.py)."""
        return Facts.gather(
            self.workspace, environment, self.known_environments, branch=branch, packages=packages
        )

    def _package_names(self) -> list[str]:
        return sorted({package_of(r) for r in self.loaded_plugins.registries()})

    def _cache(self, environment: Environment, branch: str | None) -> ResolveCache | None:
        if not cache_enabled() or self.plugins is not None:
            return None  # in-process plugin sets (tests) have no files to key by
        versions = {i.name: i.version for i in self.loaded_plugins.info.values()}
        return ResolveCache(self.workspace, environment, branch, versions)
