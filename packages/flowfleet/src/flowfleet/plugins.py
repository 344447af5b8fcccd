"""The plugin manager: default plugins, then every `flowfleet` entry point.

An entry point names a module, or an object with hookimpls (a team's `Registry`
is one). A bad entry point becomes a `Problem`; it never hides the others.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass, field
from functools import cached_property
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType
from typing import Any

import pluggy
from pydantic import TypeAdapter

from flowfleet import hookspecs
from flowfleet.infra.base import InfraConfig
from flowfleet.problems import Problem, describe_error
from flowfleet.registry import Registry

ENTRY_POINT_GROUP = "flowfleet"

HOOK_NAMES = frozenset(n for n in dir(hookspecs) if n.startswith("flowfleet_"))

# Built-in infra types, registered through the same hook as any outside plugin.
DEFAULT_PLUGINS = ("flowfleet.infra.ecs", "flowfleet.infra.worker")


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

    def raised_in(self, hook_name: str, exc: BaseException) -> str:
        """The name of the plugin whose implementation of `hook_name` raised `exc`."""
        impls = {
            i.function.__code__: i.plugin_name
            for i in getattr(self.hook, hook_name).get_hookimpls()
            if hasattr(i.function, "__code__")
        }
        found = "?"
        tb = exc.__traceback__
        while tb is not None:
            found = impls.get(tb.tb_frame.f_code, found)
            tb = tb.tb_next
        return found

    def registries(self) -> list[Registry]:
        """Every plugin's registries; a plugin whose hook raises becomes a problem."""
        seen: dict[int, Registry] = {}
        for impl in reversed(self.hook.flowfleet_registries.get_hookimpls()):
            try:
                result = impl.function() or []
            except Exception as exc:
                found = Problem(
                    f"plugin '{impl.plugin_name}' raised in flowfleet_registries: "
                    f"{describe_error(exc)}",
                    package=getattr(self.info.get(impl.plugin_name), "distribution", None),
                    fix=f"fix or uninstall the plugin '{impl.plugin_name}'",
                )
                if found not in self.problems:
                    self.problems.append(found)
                continue
            for registry in result:
                if isinstance(registry, Registry):
                    seen.setdefault(id(registry), registry)
        return list(seen.values())

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

        # pluggy's call order (newest first), one implementation at a time.
        for impl in reversed(self.hook.flowfleet_infra_types.get_hookimpls()):
            plugin = impl.plugin_name
            try:
                contributed = impl.function() or []
                contributed = list(contributed)
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
        plugin = self.manager.get_plugin(name)
        infra: list[str] = []
        registries: list[str] = []
        if hasattr(plugin, "flowfleet_infra_types"):
            try:
                infra = [_infra_type_name(c) or "?" for c in plugin.flowfleet_infra_types()]
            except Exception:
                infra = ["(raised)"]
        if hasattr(plugin, "flowfleet_registries"):
            registries = [r.package for r in plugin.flowfleet_registries()]
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


def load_plugins(entry_point_group: str | None = ENTRY_POINT_GROUP) -> Plugins:
    """Register the default plugins, then every entry point in the group."""
    plugins = Plugins(new_manager())
    from flowfleet import __version__

    for module_name in DEFAULT_PLUGINS:
        plugins.register(
            importlib.import_module(module_name), module_name, "flowfleet", __version__
        )
    if entry_point_group:
        for ep in sorted(entry_points(group=entry_point_group), key=lambda e: e.name):
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
