"""A throwaway workspace for in-process tests: its own environments, packages and plugins.

Team packages are real modules written to a temporary `src/` on `sys.path`, so
registrations carry real module-path entrypoints. Everything a test adds (plugins,
`sys.path`, imported modules) is removed again by `close()`.
"""

from __future__ import annotations

import importlib
import sys
import textwrap
from pathlib import Path

from flowfleet.environments import environment_names, load_environment
from flowfleet.facts import Facts
from flowfleet.loader import Fleet, load_fleet
from flowfleet.plugins import load_plugins
from flowfleet.registry import Registry
from flowfleet.resolve import Resolution, resolve
from flowfleet.workspace import Workspace
from project_files import write_environments, write_workspace

# The entry-point group the fake distributions use, so the installed packages stay out.
GROUP = "flowfleet-sandbox"

ENVIRONMENTS = {
    "local": 'single_pool = "local"\ndefault_infra = "worker"\n',
    "dev": 'default_infra = "ecs"\nimage_registry = "registry.example"\n[pools]\necs = "ecs-dev"\n',
    "prod": 'default_infra = "ecs"\nimage_registry = "registry.example"\n',
}

FLOW_HEADER = """\
from datetime import datetime, timedelta

from prefect import flow

from flowfleet import Cron, DeploymentConfig, EcsTask, Interval, RRule, Worker
from {package} import registry
"""


def flow_module(
    package: str,
    config: str,
    signature: str = 'audience: str = "team"',
    flow_name: str = "acme-report",
) -> str:
    """Source of a module with one flow and one `@registry(DeploymentConfig(<config>))`."""
    return FLOW_HEADER.format(package=package) + textwrap.dedent(
        f"""

        @registry(DeploymentConfig({config}))
        @flow(name="{flow_name}")
        def report({signature}) -> None:
            pass
        """
    )


class Sandbox:
    def __init__(self, root: Path):
        self.root = root
        self.src = root / "src"
        self.src.mkdir(parents=True)
        write_workspace(root, "sandbox")
        self.env_dir = write_environments(root, ENVIRONMENTS)
        self.workspace = Workspace(root, "sandbox")
        self.plugins = load_plugins(entry_point_group=None)
        self._packages: set[str] = set()
        sys.path.insert(0, str(self.src))

    def write(self, relative: str, text: str) -> Path:
        path = self.src / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        self._packages.add(Path(relative).parts[0].removesuffix(".py"))
        importlib.invalidate_caches()
        return path

    def package(self, name: str, modules: dict[str, str], register: bool = True) -> Registry:
        """Write `src/<name>/` with a registry and the given modules; register its registry."""
        self.write(
            f"{name}/__init__.py", "from flowfleet import Registry\n\nregistry = Registry()\n"
        )
        for module, text in modules.items():
            self.write(f"{name}/{module}.py", text)
        registry = importlib.import_module(name).registry
        if register:
            self.register(registry, name)
        return registry

    def distribution(self, name: str, entry_points: dict[str, str]) -> None:
        """A fake installed distribution whose entry points `load_entry_points` discovers."""
        info = self.src / f"{name.replace('-', '_')}-0.1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1.0\n")
        lines = [f"{key} = {value}" for key, value in entry_points.items()]
        (info / "entry_points.txt").write_text(f"[{GROUP}]\n" + "\n".join(lines) + "\n")
        importlib.invalidate_caches()

    def load_entry_points(self) -> None:
        """Reload the plugins the way the CLI does, from the sandbox's entry-point group."""
        self.plugins = load_plugins(entry_point_group=GROUP)

    def register(self, plugin: object, name: str) -> None:
        self.plugins.register(plugin, name)

    def fleet(self) -> Fleet:
        return load_fleet(self.plugins)

    def resolve(self, env: str = "prod") -> Resolution:
        known = environment_names(self.env_dir)
        environment = load_environment(self.env_dir, env)
        fleet = self.fleet()
        facts = Facts.gather(self.workspace, environment, known, packages=fleet.loaded_packages)
        return resolve(fleet, facts)

    def problems(self, env: str = "prod") -> list[str]:
        return [str(p) for p in self.resolve(env).problems]

    def close(self) -> None:
        for name in list(self.plugins.info):
            if self.plugins.info[name].distribution != "flowfleet":
                self.plugins.unregister(name)
        sys.path.remove(str(self.src))
        for module in list(sys.modules):
            if module.split(".")[0] in self._packages:
                del sys.modules[module]
        importlib.invalidate_caches()
