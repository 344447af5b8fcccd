"""`Registry`: collects a team's (flow, DeploymentConfig) pairs next to the flows."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from flowfleet.config import DeploymentConfig
from flowfleet.hookspecs import hookimpl

if TYPE_CHECKING:
    from prefect import Flow

F = TypeVar("F")


@dataclass(frozen=True)
class Registration:
    """One `@registry(...)` line: a flow, one of its configs, and where it was written."""

    flow: Flow
    config: DeploymentConfig
    module: str
    source: str  # "path:line" of the decorator, for error messages

    @property
    def entrypoint(self) -> str:
        """A module-path entrypoint, which loads inside an image with no source checkout."""
        return f"{self.module}:{self.flow.fn.__name__}"


@dataclass(frozen=True)
class ImportFailure:
    module: str
    error: BaseException

    @property
    def source(self) -> str | None:
        """Where in the failing module it raised (`path:line`), for the problem line."""
        if isinstance(self.error, SyntaxError) and self.error.filename:
            return f"{_relative(self.error.filename)}:{self.error.lineno}"
        found = None
        tb = self.error.__traceback__
        while tb is not None:
            if tb.tb_frame.f_globals.get("__name__") == self.module:
                found = f"{_relative(tb.tb_frame.f_code.co_filename)}:{tb.tb_lineno}"
            tb = tb.tb_next
        return found


class Registry:
    """A team package's registry: `registry = Registry()` in its `__init__.py`.

    `@registry(DeploymentConfig(...))` above `@flow` records a deployment; stack it
    for several. `load()` imports every module of the package, so decorating a
    flow is the only step needed to deploy it.
    """

    def __init__(self, package: str | None = None):
        caller = sys._getframe(1).f_globals.get("__name__", "")
        self.package: str = package or caller.split(".")[0] or caller
        self.distribution: str | None = None
        self.registrations: list[Registration] = []
        self.import_failures: list[ImportFailure] = []
        self._loaded = False

    def __repr__(self) -> str:
        return f"Registry({self.package!r}, {len(self.registrations)} deployments)"

    def __call__(self, config: DeploymentConfig | None = None) -> Callable[[F], F]:
        config = config if config is not None else DeploymentConfig()
        if not isinstance(config, DeploymentConfig):
            raise TypeError(f"@registry(...) takes a DeploymentConfig, got {type(config).__name__}")
        frame = sys._getframe(1)
        source = f"{_relative(frame.f_code.co_filename)}:{frame.f_lineno}"
        caller = frame.f_globals.get("__name__", "")

        def register(flow: F) -> F:
            if not hasattr(flow, "fn") or not hasattr(flow, "name"):
                raise TypeError(f"{source}: @registry(...) must sit above @flow, not below it")
            # The entrypoint names the module that defines the function, which may
            # differ from the one that registers it.
            module = getattr(flow.fn, "__module__", None) or caller
            self.registrations.append(Registration(flow, config, module, source))  # type: ignore[arg-type]
            return flow

        return register

    def load(self) -> Registry:
        """Import every module of the package once; record, not raise, import errors."""
        if self._loaded:
            return self
        self._loaded = True
        try:
            root = importlib.import_module(self.package)
        except Exception as exc:
            self.import_failures.append(ImportFailure(self.package, exc))
            return self
        # onerror: a failing sub-package is recorded below; without it, walk_packages
        # re-imports it and lets anything but ImportError escape.
        path = getattr(root, "__path__", [])
        for info in pkgutil.walk_packages(path, f"{self.package}.", onerror=lambda _: None):
            try:
                importlib.import_module(info.name)
            except Exception as exc:
                self.import_failures.append(ImportFailure(info.name, exc))
        return self

    @hookimpl
    def flowfleet_registries(self) -> list[Registry]:
        return [self]


def _relative(path: str) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return path
