"""One CLI invocation's view of the workspace: loaded once, shared by every command."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from flowfleet import imports
from flowfleet.cache import ResolveCache
from flowfleet.cache import enabled as cache_enabled
from flowfleet.desired import DesiredDeployment
from flowfleet.environments import Environment, environment_names, load_environment
from flowfleet.gitstorage import GitSource
from flowfleet.images import LazyImageTags
from flowfleet.loader import Fleet, load_fleet, package_of
from flowfleet.plugins import Plugins, load_plugins
from flowfleet.registry import Registry
from flowfleet.resolve import Resolution, resolve
from flowfleet.workspace import Workspace


@dataclass
class Session:
    workspace: Workspace = field(default_factory=Workspace.find)
    plugins: Plugins | None = None
    from_cache: set[str] = field(default_factory=set)  # packages resolved from the cache
    _resolve_cache: ResolveCache | None = field(default=None, repr=False)

    @cached_property
    def known_environments(self) -> list[str]:
        return environment_names(self.workspace.environments_dir)

    def environment(self, name: str) -> Environment:
        return load_environment(self.workspace.environments_dir, name)

    @cached_property
    def loaded_plugins(self) -> Plugins:
        if self.plugins is None and cache_enabled():
            imports.start()  # the cache keys a package on what it imports, from here on
        return self.plugins or load_plugins()

    @cached_property
    def fleet(self) -> Fleet:
        """Every package, imported. `resolve(cached=True)` may narrow this to the misses."""
        return load_fleet(self.loaded_plugins)

    def resolve(
        self, environment: Environment, branch: str | None = None, *, cached: bool = False
    ) -> Resolution:
        """Resolve one environment; with `cached`, unchanged packages skip their import."""
        git = GitSource(self.workspace, environment)  # shared: one `git log` per package
        cache = (
            self._cache(environment, branch, git)
            if cached and "fleet" not in self.__dict__
            else None
        )
        hits = cache.lookup(self._package_names()) if cache else {}
        if cache:
            self.__dict__["fleet"] = load_fleet(self.loaded_plugins, skip=frozenset(hits))
        resolution = resolve(
            self.fleet,
            environment,
            self.workspace,
            self.known_environments,
            branch=branch,
            image_tags=self.image_tags,
            resolved=[d for deployments in hits.values() for d in deployments],
            git=git,
        )
        if cache:
            cache.store(resolution, self.fleet)
            self.from_cache, self._resolve_cache = set(hits), cache
        return resolution

    def refresh(
        self,
        environment: Environment,
        branch: str | None,
        desired: list[DesiredDeployment],
        packages: set[str],
    ) -> list[DesiredDeployment]:
        """`desired`, with `packages` resolved afresh from their code instead of the cache.

        Pruning calls this before it deletes a deployment of a cached package: a
        deletion is never decided by a cached resolution. A package that fails now
        joins `fleet.failed_packages`, which refuses the prune.
        """
        fresh_fleet = load_fleet(
            self.loaded_plugins, skip=frozenset(self._package_names()) - packages
        )
        fresh = resolve(
            fresh_fleet,
            environment,
            self.workspace,
            self.known_environments,
            branch=branch,
            image_tags=self.image_tags,
            git=GitSource(self.workspace, environment),
        )
        self.fleet.failed_packages |= fresh_fleet.failed_packages
        self.fleet.failed_packages |= {p.package or "*" for p in fresh.problems}
        for package in packages:  # a stale entry goes; the next run that loads it rewrites it
            if _dumps(desired, package) != _dumps(fresh.deployments, package):
                self._resolve_cache.forget(package)
        self.fleet.registries.extend(fresh_fleet.registries)
        self.from_cache -= packages
        kept = [d for d in desired if d.package not in packages]
        return sorted(kept + fresh.deployments, key=lambda d: d.full_name)

    def _package_names(self) -> list[str]:
        return sorted({package_of(r) for r in self.loaded_plugins.registries()})

    def _cache(
        self, environment: Environment, branch: str | None, git: GitSource | None = None
    ) -> ResolveCache | None:
        if not cache_enabled() or self.plugins is not None:
            return None  # in-process plugin sets (tests) have no files to key by
        plugins = self.loaded_plugins
        return ResolveCache(
            self.workspace,
            environment,
            branch,
            modules={package_of(r): r.package for r in plugins.registries()},
            plugin_versions={i.name: i.version for i in plugins.info.values()},
            plugin_modules=[
                getattr(p, "__name__", None) or type(p).__module__
                for p in plugins.manager.get_plugins()
                if not isinstance(p, Registry)
            ],
            known_environments=self.known_environments,
            image_tags=self.image_tags,
            git=git,
        )

    @cached_property
    def image_tags(self) -> LazyImageTags:
        """Content-addressed tags (`IMAGE_TAG` wins), computed only if an image is needed."""
        return LazyImageTags(self.workspace)


def _dumps(deployments: list[DesiredDeployment], package: str) -> list[tuple[str, dict]]:
    """A package's deployments as compared: names and labels (which carry the spec hash)."""
    return [(d.full_name, d.labels) for d in deployments if d.package == package]
