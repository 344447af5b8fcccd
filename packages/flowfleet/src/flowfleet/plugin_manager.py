"""The loaded plugin manager: pluggy plus what flowfleet knows about each plugin.

`Plugins` calls every hook through pluggy, one plugin at a time (`call_each`) where a
plugin that raises must be named in a problem (the registries: one call first, and
one plugin at a time only when it raises); it also reports hookimpls no hookspec
has (`pending`) and what one plugin contributes. Loading it is `flowfleet.plugins`.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import pluggy

from flowfleet import hookspecs
from flowfleet.errors import describe_error
from flowfleet.infra_types import InfraTypes, collect_infra_types, infra_type_name
from flowfleet.problems import Problem
from flowfleet.registry import Registry

HOOK_NAMES = frozenset(n for n in dir(hookspecs) if n.startswith("flowfleet_"))


@dataclass
class PluginInfo:
    name: str
    distribution: str | None
    version: str | None


@dataclass
class Plugins:
    """A loaded plugin manager plus what went wrong while loading it."""

    manager: pluggy.PluginManager
    info: dict[str, PluginInfo] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    # Plugins blocked by name, with their distribution: their packages must not look removed.
    disabled: dict[str, str | None] = field(default_factory=dict)
    _registries: tuple[frozenset[int], list[Registry]] | None = field(default=None, repr=False)

    @property
    def hook(self) -> Any:
        return self.manager.hook

    def register(
        self, plugin: object, name: str, distribution: str | None = None, version: str | None = None
    ) -> None:
        self.manager.register(plugin, name=name)
        self.info[name] = PluginInfo(name, distribution, version)
        self.__dict__.pop("infra_types", None)  # the union is rebuilt on next use

    def unregister(self, name: str) -> None:
        self.manager.unregister(name=name)
        self.info.pop(name, None)
        self.__dict__.pop("infra_types", None)

    def pending(self) -> list[Problem]:
        """`pm.check_pending()` as a problem: a hookimpl whose name no hookspec has."""
        try:
            self.manager.check_pending()
        except pluggy.PluginValidationError as exc:
            name = self.manager.get_name(exc.plugin) or "?"
            hooks = sorted(
                n
                for n in dir(exc.plugin)
                if n.startswith("flowfleet_")
                and n not in HOOK_NAMES
                and self.manager.parse_hookimpl_opts(exc.plugin, n) is not None
            )
            fixes = []
            for hook in hooks:
                close = difflib.get_close_matches(hook, HOOK_NAMES, n=1)
                fixes.append(f"rename {hook} to {close[0]}" if close else f"remove {hook}")
            fix = "; ".join(fixes)
            return [
                Problem(
                    f"plugin '{name}' implements {', '.join(hooks) or 'a hook'}, which is "
                    f"not a flowfleet hook (known: {', '.join(sorted(HOOK_NAMES))})",
                    package=getattr(self.info.get(name), "distribution", None),
                    fix=fix or f"fix or uninstall the plugin '{name}'",
                )
            ]
        return []

    def call_each(self, hook_name: str, **kwargs: Any) -> Iterator[tuple[str, Any]]:
        """Call one hook through pluggy, one plugin at a time, in pluggy's call order.

        Yields (plugin name, its result); a plugin whose implementation raises yields
        the exception instead, so the caller can name it in a problem. Each call goes
        through `pm.subset_hook_caller`, which keeps pluggy's argument checks and
        hook wrappers.
        """
        impls = getattr(self.hook, hook_name).get_hookimpls()
        wrappers = {id(i.plugin) for i in impls if i.hookwrapper or i.wrapper}
        for impl in reversed(impls):
            if id(impl.plugin) in wrappers:
                continue
            others = [
                i.plugin
                for i in impls
                if i.plugin is not impl.plugin and id(i.plugin) not in wrappers
            ]
            caller = self.manager.subset_hook_caller(hook_name, remove_plugins=others)
            try:
                results = caller(**kwargs)
            except Exception as exc:
                yield impl.plugin_name, exc
                continue
            yield impl.plugin_name, results[0] if results else None

    def _raised(self, plugin: str, hook_name: str, exc: BaseException) -> Problem:
        return Problem(
            f"plugin '{plugin}' raised in {hook_name}: {describe_error(exc)}",
            package=getattr(self.info.get(plugin), "distribution", None),
            fix=f"fix or uninstall the plugin '{plugin}'",
        )

    def registries(self) -> list[Registry]:
        """Every plugin's registries; a plugin whose hook raises becomes a problem.

        Kept until the set of registered plugins changes: one command asks several times.
        """
        registered = frozenset(map(id, self.manager.get_plugins()))
        if self._registries is None or self._registries[0] != registered:
            self._registries = (registered, self._collect_registries())
        return list(self._registries[1])

    def _collect_registries(self) -> list[Registry]:
        """One pluggy call when no plugin raises (the same results in the same order as
        `call_each`, without its plugins-squared subset callers); `call_each` only to name
        the plugin that raised."""
        try:
            results: list[Any] = self.hook.flowfleet_registries()
        except Exception:
            results = []
            for plugin, result in self.call_each("flowfleet_registries"):
                if isinstance(result, Exception):
                    found = self._raised(plugin, "flowfleet_registries", result)
                    if found not in self.problems:
                        self.problems.append(found)
                else:
                    results.append(result)
        seen: dict[int, Registry] = {}
        for result in results:
            for registry in result or []:
                if isinstance(registry, Registry):
                    seen.setdefault(id(registry), registry)
        return list(seen.values())

    def adjust_deployment(self, deployment: Any, environment: Any) -> tuple[str, Exception] | None:
        """Run every `flowfleet_adjust_deployment`; (plugin, error) of the first that raises."""
        hook_name = "flowfleet_adjust_deployment"
        if not getattr(self.hook, hook_name).get_hookimpls():
            return None  # the common case: no policy plugin, no per-deployment cost
        for plugin, result in self.call_each(
            hook_name, deployment=deployment, environment=environment
        ):
            if isinstance(result, Exception):
                return plugin, result
        return None

    @cached_property
    def infra_types(self) -> InfraTypes:
        """Every infra type the plugins contribute, with their validating union;
        built once, again after `register` or `unregister`."""
        return collect_infra_types(self)

    def contributions(self, name: str) -> tuple[list[str], list[str]]:
        """(infra type names, registry packages) that one plugin contributes."""
        infra: list[str] = []
        registries: list[str] = []
        for plugin, result in self.call_each("flowfleet_infra_types"):
            if plugin == name:
                if isinstance(result, Exception):
                    infra = ["(raised)"]
                else:
                    infra = [infra_type_name(c) or "?" for c in result or []]
        for plugin, result in self.call_each("flowfleet_registries"):
            if plugin == name and not isinstance(result, Exception):
                registries = [r.package for r in result or []]
        return infra, registries


def new_manager() -> pluggy.PluginManager:
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    return manager
