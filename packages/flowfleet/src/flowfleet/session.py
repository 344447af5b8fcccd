"""One CLI invocation's view of the workspace: loaded once, shared by every command."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from flowfleet.environments import Environment, environment_names, load_environment
from flowfleet.images import LazyImageTags
from flowfleet.loader import Fleet, load_fleet
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
    def fleet(self) -> Fleet:
        return load_fleet(self.plugins or load_plugins())

    def resolve(self, environment: Environment, branch: str | None = None) -> Resolution:
        return resolve(
            self.fleet,
            environment,
            self.workspace,
            self.known_environments,
            branch=branch,
            image_tags=self.image_tags,
        )

    @cached_property
    def image_tags(self) -> LazyImageTags:
        """Content-addressed tags (`IMAGE_TAG` wins), computed only if an image is needed."""
        return LazyImageTags(self.workspace)
