"""The plugin manager: default plugins, then every `flowfleet` entry point.

An entry point names a module, or an object with hookimpls (a team's `Registry`
is one). A bad entry point becomes a `Problem`; it never hides the others.
Every hook is called through pluggy (`Plugins.call_each`), one plugin at a time
where a plugin that raises must be named. `FLOWFLEET_DISABLE_PLUGINS` (a comma
list of plugin names, as `flowfleet plugins` shows them) or the global
`--disable-plugin NAME` option blocks plugins, like pytest's `-p no:NAME`.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType
from typing import Any

import pluggy
from pydantic import TypeAdapter

from flowfleet import hookspecs
from flowfleet.errors import describe_error
from flowfleet.infra.base import InfraConfig
from flowfleet.problems import Problem
from flowfleet.registry import Registry

ENTRY_POINT_GROUP = "flowfleet"

HOOK_NAMES = frozenset(n for n in dir(hookspecs) if n.startswith("flowfleet_"))

# Built-in infra types, registered through the same hook as any outside plugin. Declared
# here only (not also as entry points), so `load_plugins(entry_point_group=None)` has them.
DEFAULT_PLUGINS = ("flowfleet.infra.ecs", "flowfleet.infra.worker")
DISABLE_VAR = "FLOWFLEET_DISABLE_PLUGINS"


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
        """Every plugin's registries; a plugin whose hook raises becomes a problem."""
        seen: dict[int, Registry] = {}
        for plugin, result in self.call_each("flowfleet_registries"):
            if isinstance(result, Exception):
                found = self._raised(plugin, "flowfleet_registries", result)
                if found not in self.problems:
                    self.problems.append(found)
                continue
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
        """Every infra type the plugins contribute, with their validating union.

        Each plugin is asked on its own, so one that raises or returns something
        other than InfraConfig subclasses becomes a problem naming it; two plugins
        giving the same `type` name are a problem too, never a silent shadowing.
        """
        types: dict[str, type[InfraConfig]] = {}
        owners: dict[str, str] = {}
        problems: list[Problem] = []

        def problem(plugin: str, message: str, fix: str) -> None:
            package = self.info[plugin].distribution if plugin in self.info else None
            problems.append(Problem(f"plugin '{plugin}' {message}", package=package, fix=fix))

        for plugin, result in self.call_each("flowfleet_infra_types"):
            try:
                if isinstance(result, Exception):
                    raise result
                contributed = list(result or [])
            except Exception as exc:
                problem(
                    plugin,
                    f"raised in flowfleet_infra_types: {describe_error(exc)}",
                    f"fix or uninstall the plugin '{plugin}'",
                )
                continue
            for cls in contributed:
                name = _infra_type_name(cls)
                if name is None:
                    problem(
                        plugin,
                        f"returned {cls!r} from flowfleet_infra_types, which is not an "
                        "InfraConfig subclass with a `type` literal",
                        "return a list of InfraConfig subclasses, such as `return [Batch]`",
                    )
                elif name in types and types[name] is not cls:
                    problem(
                        plugin,
                        f"and plugin '{owners[name]}' both contribute infra type '{name}'",
                        "uninstall one of them, or rename one type",
                    )
                else:
                    types.setdefault(name, cls)
                    owners.setdefault(name, plugin)
        return InfraTypes(types, problems)

    def contributions(self, name: str) -> tuple[list[str], list[str]]:
        """(infra type names, registry packages) that one plugin contributes."""
        infra: list[str] = []
        registries: list[str] = []
        for plugin, result in self.call_each("flowfleet_infra_types"):
            if plugin == name:
                if isinstance(result, Exception):
                    infra = ["(raised)"]
                else:
                    infra = [_infra_type_name(c) or "?" for c in result or []]
        for plugin, result in self.call_each("flowfleet_registries"):
            if plugin == name and not isinstance(result, Exception):
                registries = [r.package for r in result or []]
        return infra, registries


class InfraTypes:
    """The discriminated union of every known infra type, built once plugins load."""

    def __init__(self, types: dict[str, type[InfraConfig]], problems: list[Problem] | None = None):
        self.types = types
        self.problems = problems or []
        self._adapter: TypeAdapter[Any] | None = None

    @property
    def names(self) -> list[str]:
        return sorted(self.types)

    def validate(self, value: InfraConfig | dict[str, Any]) -> InfraConfig:
        """Turn an instance or a `{"type": ...}` dict into its registered class.

        Raises `ValueError` naming the known types for an unknown `type`.
        """
        data = value.model_dump() if isinstance(value, InfraConfig) else dict(value)
        name = data.get("type")
        if name not in self.types:
            raise ValueError(f"unknown infra type '{name}' (known: {', '.join(self.names)})")
        if type(value) is self.types[name]:
            return value  # type: ignore[return-value]
        return self.adapter.validate_python(data)

    @property
    def adapter(self) -> TypeAdapter[Any]:
        if self._adapter is None:
            from typing import Annotated, Union

            from pydantic import Field

            members = tuple(self.types.values())
            union = members[0] if len(members) == 1 else Union[members]  # noqa: UP007
            self._adapter = TypeAdapter(Annotated[union, Field(discriminator="type")])
        return self._adapter


def _infra_type_name(cls: object) -> str | None:
    """The `type` literal of an InfraConfig subclass; None for anything else."""
    if not (inspect.isclass(cls) and issubclass(cls, InfraConfig)):
        return None
    field_info = cls.model_fields.get("type")
    name = field_info.default if field_info else None
    return name if isinstance(name, str) else None


def new_manager() -> pluggy.PluginManager:
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    return manager


def disabled_plugins(environ: dict[str, str] | None = None) -> list[str]:
    """The plugin names in `FLOWFLEET_DISABLE_PLUGINS` (comma-separated)."""
    value = (os.environ if environ is None else environ).get(DISABLE_VAR, "")
    return [name.strip() for name in value.split(",") if name.strip()]


def load_plugins(
    entry_point_group: str | None = ENTRY_POINT_GROUP, disabled: Iterable[str] | None = None
) -> Plugins:
    """Register the default plugins, then every entry point in the group.

    `disabled` (default: `FLOWFLEET_DISABLE_PLUGINS`) names plugins to block.
    """
    plugins = Plugins(new_manager())
    from flowfleet import __version__

    for name in disabled_plugins() if disabled is None else disabled:
        plugins.manager.set_blocked(name)
    for module_name in DEFAULT_PLUGINS:
        if plugins.manager.is_blocked(module_name):
            plugins.disabled[module_name] = "flowfleet"
        else:
            plugins.register(
                importlib.import_module(module_name), module_name, "flowfleet", __version__
            )
    if entry_point_group:
        for ep in sorted(entry_points(group=entry_point_group), key=lambda e: e.name):
            if plugins.manager.is_blocked(ep.name):
                plugins.disabled[ep.name] = ep.dist.name if ep.dist else None
            else:
                _register_entry_point(plugins, ep)
    return plugins


def _register_entry_point(plugins: Plugins, ep: EntryPoint) -> None:
    dist = ep.dist.name if ep.dist else None
    version = ep.dist.version if ep.dist else None

    def problem(message: str, fix: str | None = None) -> None:
        where = f"entry point '{ep.name} = {ep.value}'"
        plugins.problems.append(Problem(f"{where} {message}", package=dist, fix=fix))

    try:
        obj = _load(ep)
    except LookupError as exc:
        problem(
            f"names nothing: {exc}",
            "point it at a module or at an object such as the package's `registry`",
        )
        return
    except Exception as exc:
        problem(f"raised on import: {describe_error(exc)}", "fix the import error")
        return
    if isinstance(obj, Registry):
        obj.distribution = obj.distribution or dist
    elif not _has_hookimpls(plugins.manager, obj):
        unmarked = [n for n in dir(obj) if n in HOOK_NAMES]
        registry = next((n for n in dir(obj) if isinstance(getattr(obj, n, None), Registry)), None)
        if unmarked and not inspect.isclass(obj):
            fix = f"decorate {', '.join(unmarked)} with @flowfleet.hookimpl"
        elif registry:
            fix = f"name the registry: '{ep.value}:{registry}'"
        else:
            fix = "name the package's `registry`, or a module with @hookimpl functions"
        what = "module" if isinstance(obj, ModuleType) else type(obj).__name__
        problem(f"names a {what}, which is neither a Registry nor a plugin", fix)
        return
    if plugins.manager.is_registered(obj):
        return
    try:
        plugins.register(obj, ep.name, dist, version)
    except (ValueError, pluggy.PluginValidationError) as exc:
        problem(f"could not be registered: {describe_error(exc)}")


def _load(ep: EntryPoint) -> Any:
    """`ep.load()`, with "names nothing" (`LookupError`) told apart from an import that raised."""
    try:
        obj: Any = importlib.import_module(ep.module)
    except ModuleNotFoundError as exc:
        if exc.name and (ep.module + ".").startswith(exc.name + "."):
            raise LookupError(f"no module named '{exc.name}'") from None
        raise
    for attr in (ep.attr or "").split(".") if ep.attr else []:
        if not hasattr(obj, attr):
            raise LookupError(f"'{ep.module}' has no attribute '{ep.attr}'")
        obj = getattr(obj, attr)
    return obj


def _has_hookimpls(manager: pluggy.PluginManager, obj: object) -> bool:
    """True when pluggy would find at least one flowfleet hookimpl on the object."""
    if inspect.isclass(obj):
        return False
    return any(manager.parse_hookimpl_opts(obj, name) for name in dir(obj))
