"""A throwaway project for deploy tests against the real test server.

Each fleet has its own workspace folder, project name and flow names, so tests
sharing one Prefect server never touch each other's deployments.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
from prefect import flow
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import FlowFilter, FlowFilterName

from flowfleet import DeploymentConfig, Registry, engine
from flowfleet.client import ApiClient
from flowfleet.engine import Target
from flowfleet.plugins import load_plugins
from flowfleet.session import Session
from flowfleet.workspace import Workspace
from project_files import new_uid, server_environments, write_environments, write_workspace

READS = ("/filter", "/health", "/count")


def etl(days: int = 1, region: str = "emea") -> int:
    return days


class WriteCounter:
    """Lists the HTTP requests that could change the server (anything but reads) and the
    reads, and counts the most writes that were waiting for their answer at once.

    A write the server answered with 503 is taken back off `writes`: the server changed
    nothing, and the client sends it again (a busy SQLite server does this under load).
    """

    def __init__(self) -> None:
        self.writes: list[str] = []
        self.reads: list[str] = []
        self.in_flight = 0
        self.most_in_flight = 0

    @staticmethod
    def is_write(request: httpx.Request) -> bool:
        return request.method != "GET" and not request.url.path.endswith(READS)

    async def __call__(self, request: httpx.Request) -> None:
        if not self.is_write(request):
            self.reads.append(f"{request.method} {request.url.path}")
        else:
            self.writes.append(f"{request.method} {request.url.path}")
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)

    async def answered(self, response: httpx.Response) -> None:
        request = response.request
        if self.is_write(request):
            self.in_flight -= 1
            if response.status_code == 503:
                self.writes.remove(f"{request.method} {request.url.path}")


class DeployFleet:
    def __init__(self, root: Path, api_url: str):
        self.uid = new_uid()
        self.project = f"test-{self.uid}"
        self.api_url = api_url
        self.pool = f"proc-{self.uid}"
        write_workspace(root, self.project)
        write_environments(root, server_environments(api_url, self.pool))
        self.workspace = Workspace(root, self.project)
        self.registry = Registry(package=__name__)
        self.registry.distribution = "team-flows"
        self.failing_package: str | None = None
        self.extra_plugins: dict[str, Any] = {}  # name -> plugin module, e.g. kubernetes

    def flow_name(self, short: str) -> str:
        return f"{short}-{self.uid}"

    def add(self, short: str, **config: Any) -> None:
        """Declare one deployment of a flow named `<short>-<uid>`."""
        new_flow = flow(name=self.flow_name(short))(etl)
        self.registry(DeploymentConfig(**config))(new_flow)

    def remove(self, short: str) -> None:
        name = self.flow_name(short)
        self.registry.registrations[:] = [
            r for r in self.registry.registrations if r.flow.name != name
        ]

    def target(
        self, env: str = "test", branch: str | None = None, *, prefetch: bool = False
    ) -> Target:
        plugins = load_plugins(entry_point_group=None)
        plugins.register(self.registry, "team", "team-flows", "0")
        for name, plugin in self.extra_plugins.items():
            plugins.register(plugin, name)
        if self.failing_package:
            broken = Registry(package=self.failing_package)
            broken.distribution = "broken-flows"
            plugins.register(broken, "broken", "broken-flows", "0")
        session = Session(workspace=self.workspace, plugins=plugins)
        return Target.load(env, session, branch, prefetch=prefetch)

    def client(self, counter: WriteCounter | None = None) -> ApiClient:
        """flowfleet's own client, as the CLI uses it, with a write counter hooked in."""
        hooks = {"request": [counter], "response": [counter.answered]} if counter else {}
        return ApiClient(self.api_url, httpx_settings={"event_hooks": hooks})

    def deploy(
        self,
        env: str = "test",
        counter: WriteCounter | None = None,
        branch: str | None = None,
        **options: Any,
    ):
        target = self.target(env, branch)
        asyncio.run(engine.pools(target))
        return asyncio.run(engine.deploy(target, client=self.client(counter), **options))

    def plan(self, env: str = "test", branch: str | None = None, **options: Any):
        return asyncio.run(engine.plan(self.target(env, branch), **options))

    def server_deployments(self) -> dict[str, Any]:
        """Every deployment on the server whose flow belongs to this fleet, by full name."""

        async def read() -> dict[str, Any]:
            mine = FlowFilter(name=FlowFilterName(like_=self.uid))
            async with PrefectClient(api=self.api_url) as client:
                flows = {str(f.id): f.name for f in await client.read_flows(flow_filter=mine)}
                found = {}
                for d in await client.read_deployments(flow_filter=mine):
                    name = flows.get(str(d.flow_id), "")
                    if name.endswith(self.uid):
                        found[f"{name}/{d.name}"] = d
                return found

        return asyncio.run(read())
