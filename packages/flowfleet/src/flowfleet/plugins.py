"""Loading plugins: the default plugins, then every `flowfleet` entry point.

An entry point names a module, or an object with hookimpls (a team's `Registry`
is one). A bad entry point becomes a `Problem`; it never hides the others.
`FLOWFLEET_DISABLE_PLUGINS` (a comma list of plugin names, as `flowfleet plugins`
shows them) or the global `--disable-plugin NAME` option blocks plugins, like
pytest's `-p no:NAME`. What loads is a `flowfleet.plugin_manager.Plugins`, which
calls every hook through pluggy.
"""

from __future__ import annotations

import importlib
import inspect
import os
from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType
from typing import Any

import pluggy

from flowfleet.errors import describe_error
from flowfleet.plugin_manager import HOOK_NAMES, Plugins, new_manager
from flowfleet.problems import Problem
from flowfleet.registry import Registry

ENTRY_POINT_GROUP = "flowfleet"

# Built-in infra types, registered through the same hook as any outside plugin. Declared
# here only (not also as entry points), so `load_plugins(entry_point_group=None)` has them.
DEFAULT_PLUGINS = ("flowfleet.infra.ecs", "flowfleet.infra.worker")
DISABLE_VAR = "FLOWFLEET_DISABLE_PLUGINS"


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
