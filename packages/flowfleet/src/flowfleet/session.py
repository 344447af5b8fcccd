"""One CLI invocation's view of the workspace: loaded once, shared by every command."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from flowfleet import imports, prewarm, secrets, template_store
from flowfleet.cache import ResolveCache
from flowfleet.cache import keyed as cache_keyed
from flowfleet.cache import root as cache_root
from flowfleet.desired import DesiredDeployment
from flowfleet.environments import Environment, environment_names, load_environment
from flowfleet.facts import Facts, image_tags_for
from flowfleet.gitstorage import GitSource
from flowfleet.loader import Fleet, load_fleet, package_of
from flowfleet.plugin_manager import Plugins
from flowfleet.plugins import load_plugins
from flowfleet.problems import FlowfleetError
from flowfleet.registry import Registry
from flowfleet.resolve import Resolution, resolve
from flowfleet.workspace import Workspace


@dataclass
class Session:
    workspace: Workspace = field(default_factory=Workspace.find)
    plugins: Plugins | None = None
    only: frozenset[str] | None = None  # a prewarm worker's share: no other package loads
    from_cache: set[str] = field(default_factory=set)  # packages resolved from the cache
    _resolve_cache: ResolveCache | None = field(default=None, repr=False)
    _tags: dict[str, LazyTags] = field(default_factory=dict, repr=False)
    _git: dict[str, GitSource] = field(default_factory=dict, repr=False)
    _caches: dict[tuple[str, str | None], ResolveCache | None] = field(
        default_factory=dict, repr=False
    )

    @cached_property
    def known_environments(self) -> list[str]:
        return environment_names(self.workspace.environments_dir)

    def environment(self, name: str) -> Environment:
        return load_environment(self.workspace.environments_dir, name)

    @cached_property
    def loaded_plugins(self) -> Plugins:
        if cache_keyed(self.plugins):
            imports.start()  # the cache keys a package on what it imports, from here on
        return self.plugins or load_plugins()

    @cached_property
    def fleet(self) -> Fleet:
        """Every package, imported. `resolve(cached=True)` may narrow this to the misses."""
        return load_fleet(self.loaded_plugins)

    def narrowed(self, packages: Iterable[str]) -> Session:
        """A session for `packages` alone (a worker's batch), sharing what this one has
        loaded and made: plugins, git sources, image tags and caches."""
        narrowed = Session(
            self.workspace,
            only=frozenset(packages),
            _tags=self._tags,
            _git=self._git,
            _caches=self._caches,  # keyed before any flow is imported, as the command's are
        )
        narrowed.__dict__["loaded_plugins"] = self.loaded_plugins  # keeps `plugins` None:
        narrowed.__dict__["known_environments"] = self.known_environments  # cached
        narrowed.__dict__["template_file"] = self.template_file
        return narrowed

    def resolve(
        self,
        environment: Environment,
        branch: str | None = None,
        *,
        cached: bool = False,
        settled: Callable[[], None] | None = None,
    ) -> Resolution:
        """Resolve one environment; with `cached`, unchanged packages skip their import."""
        [resolution] = self.resolve_each([environment], branch, cached=cached, settled=settled)
        return resolution

    def resolve_each(
        self,
        environments: list[Environment],
        branch: str | None = None,
        *,
        cached: bool = False,
        collect: bool = False,
        settled: Callable[[], None] | None = None,
    ) -> list[Resolution]:
        """Resolve each environment from one import of the fleet.

        With `cached`, a package that every environment's cache holds unchanged is not
        imported (validate checks every environment: one miss anywhere imports it, and
        its fresh resolution serves them all). With `collect`, an environment that cannot
        be resolved (its git source, say) becomes a resolution holding only the problem,
        and the others still resolve. The facts are gathered once per environment, after
        loading, and handed to the pure `resolve`. Secret values are learnt here, at the
        boundary, so error lines mask them. `settled` is called once no prewarm worker
        runs any more (the read ahead holds its pages until then: prefetch.py).
        """
        caches: dict[str, ResolveCache] = {}
        hits: dict[str, dict[str, list[DesiredDeployment]]] = {}
        for environment in environments if cached and "fleet" not in self.__dict__ else ():
            with contextlib.suppress(FlowfleetError):  # resolving it reports the error
                if cache := self._cache(environment, branch):
                    hits[environment.name] = cache.lookup(self._package_names())
                    caches[environment.name] = cache
        reused: frozenset[str] = frozenset()
        if hits and len(hits) == len(environments):
            self._prewarm(caches, hits, [e.name for e in environments], branch)
            reused = frozenset.intersection(*(frozenset(h) for h in hits.values()))
            outside = set(self._package_names(everyone=True)) - set(self._package_names())
            self.__dict__["fleet"] = load_fleet(self.loaded_plugins, skip=reused | outside)
        if settled is not None:
            settled()
        resolutions = []
        with self._stock_templates():
            for environment in environments:
                from_cache = [d for p in sorted(reused) for d in hits[environment.name][p]]
                try:
                    facts = self.facts(environment, branch, self.fleet.loaded_packages)
                except FlowfleetError as exc:
                    if not collect:
                        raise
                    resolutions.append(Resolution(environment, problems=list(exc.problems)))
                    continue
                resolution = resolve(
                    self.fleet, facts, resolved=from_cache, whole_fleet=self.only is None
                )
                # A cached package holds no secret (cache.holds_secrets keeps those out), so
                # only the fresh ones teach the scrubber: 10,000 cached cost 0.4 s for nothing.
                _remember_secrets([d for d in resolution.deployments if d.package not in reused])
                if cache := caches.get(environment.name):
                    cache.store(resolution, self.fleet)
                    self.from_cache, self._resolve_cache = set(reused), cache
                resolutions.append(resolution)
        return resolutions

    @contextlib.contextmanager
    def _stock_templates(self) -> Iterator[None]:
        """Stock pool templates from disk around a resolution that imports packages, and
        any it made written back (template_store.py); a warm one reads nothing."""
        path = self.template_file if self.fleet.registries else None
        known = template_store.load(path) if path else 0
        yield
        if path:
            template_store.save(path, known)

    @cached_property
    def template_file(self) -> Path | None:
        if not cache_keyed(self.plugins):
            return None
        return template_store.store_file(cache_root(self.workspace))

    def _prewarm(
        self,
        caches: Mapping[str, ResolveCache],
        hits: dict[str, dict[str, list[DesiredDeployment]]],
        environments: list[str],
        branch: str | None,
    ) -> None:
        """Packages every cache missed, resolved by worker processes and looked up again."""
        if self.only is not None:
            return  # a worker's share is its own to import
        missed = [p for p in self._package_names() if not all(p in h for h in hits.values())]
        if prewarm.fill(self.workspace.root, environments, branch, missed):
            for name, cache in caches.items():
                hits[name].update(cache.lookup(missed))

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
        fresh = resolve(fresh_fleet, self.facts(environment, branch, fresh_fleet.loaded_packages))
        _remember_secrets(fresh.deployments)
        self.fleet.failed_packages |= fresh_fleet.failed_packages
        self.fleet.failed_packages |= {p.package or "*" for p in fresh.problems}
        self.fleet.problems += [p for p in fresh.problems if p not in self.fleet.problems]
        for package in packages:  # a stale entry goes; the next run that loads it rewrites it
            stale = _dumps(desired, package) != _dumps(fresh.deployments, package)
            if stale and self._resolve_cache is not None:
                self._resolve_cache.forget(package)
        self.fleet.registries.extend(fresh_fleet.registries)
        self.from_cache -= packages
        kept = [d for d in desired if d.package not in packages]
        return sorted(kept + fresh.deployments, key=lambda d: d.full_name)

    def facts(
        self, environment: Environment, branch: str | None, packages: Iterable[str] = ()
    ) -> Facts:
        """What resolving `packages` needs to know, read once (see facts.py)."""
        return Facts.gather(
            self.workspace,
            environment,
            self.known_environments,
            branch=branch,
            packages=packages,
            image_tags=self.image_tags(environment),
            git=self.git_source(environment),
        )

    def git_source(self, environment: Environment) -> GitSource:
        """The environment's git-storage source, one per command: its `git rev-parse` and
        per-package `git log` run once, whether the cache, the facts or the engine asks."""
        if environment.name not in self._git:
            self._git[environment.name] = GitSource(self.workspace, environment)
        return self._git[environment.name]

    def image_tags(self, environment: Environment) -> LazyTags:
        """The environment's image tags, computed once and only when first read."""
        if environment.name not in self._tags:  # every flow package's: narrowed ones share it
            workspace, packages = self.workspace, self._package_names()
            self._tags[environment.name] = LazyTags(
                lambda: image_tags_for(workspace, environment, packages)
            )
        return self._tags[environment.name]

    def _package_names(self, *, everyone: bool = False) -> list[str]:
        """Every package's name; in a prewarm worker, only those of its share."""
        names = {package_of(r) for r in self.loaded_plugins.registries()}
        return sorted(names if everyone or self.only is None else names & self.only)

    def _cache(self, environment: Environment, branch: str | None) -> ResolveCache | None:
        """The environment's cache, made once: its shared key covers the plugins' imports,
        and a key made after flows imported (a worker's next batch) would differ."""
        if (environment.name, branch) not in self._caches:
            self._caches[environment.name, branch] = self._new_cache(environment, branch)
        return self._caches[environment.name, branch]

    def _new_cache(self, environment: Environment, branch: str | None) -> ResolveCache | None:
        if not cache_keyed(self.plugins):
            return None
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
            image_tags=self.image_tags(environment),
            git=self.git_source(environment),
        )


class LazyTags(Mapping[str, str]):
    """Image tags hashed on first read: a warm plan whose packages carry no image (a
    laptop, git storage) never hashes the workspace, and one that does hashes it once
    for the cache check and the facts together."""

    def __init__(self, compute):
        self._compute = compute

    @cached_property
    def _tags(self) -> Mapping[str, str]:
        return self._compute()

    def __getitem__(self, package: str) -> str:
        return self._tags[package]

    def __iter__(self) -> Iterator[str]:
        return iter(self._tags)

    def __len__(self) -> int:
        return len(self._tags)


def _remember_secrets(deployments: list[DesiredDeployment]) -> None:
    for deployment in deployments:
        secrets.remember([deployment.job_variables, deployment.parameters])


def _dumps(deployments: list[DesiredDeployment], package: str) -> list[tuple[str, dict]]:
    """A package's deployments as compared: names and labels (which carry the spec hash)."""
    return [(d.full_name, d.labels) for d in deployments if d.package == package]
