"""Orchestration for one environment: load, read the server, plan, apply.

The CLI calls these; tests call them in-process with their own session or client.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flowfleet import branches, gitstorage, read_scope
from flowfleet.apply import Outcome, Report, apply_plan
from flowfleet.cache import folder as cache_folder
from flowfleet.client import ApiClient
from flowfleet.connection import api_url_for
from flowfleet.desired import DesiredDeployment
from flowfleet.environments import Environment
from flowfleet.errors import describe_error
from flowfleet.loader import Fleet
from flowfleet.observed import ObservedDeployment, ServerState, read_server_state
from flowfleet.plan import Change, Plan, make_plan
from flowfleet.pools import ensure_pools, required_pools
from flowfleet.prefetch import ServerPrefetch
from flowfleet.problems import FlowfleetError
from flowfleet.read_scope import ReadScope
from flowfleet.session import Session


@dataclass
class Target:
    """The resolved desired state of one environment, ready to compare with its server."""

    session: Session
    environment: Environment
    desired: list[DesiredDeployment]
    api_url: str
    branch: str | None = None  # None: unknown, and nothing here depends on it
    prefetch: ServerPrefetch | None = field(default=None, repr=False)

    @classmethod
    def load(
        cls,
        env: str,
        session: Session | None = None,
        branch: str | None = None,
        *,
        prefetch: bool = False,
    ) -> Target:
        """Resolve `env` for `branch` (default: detected); any problem stops here,
        before anything is written, including a branch the environment refuses.

        With `prefetch`, the server is read on a thread while the fleet resolves
        (reads only; see prefetch.py): `plan` and `deploy` use that read.
        """
        session = session or Session()
        environment = session.environment(env)
        branch = branch or _detect_branch(session, environment)
        if branch is not None:
            branches.check_allowed(environment, branch)
        ahead = _start_prefetch(session, environment) if prefetch else None
        resolution = session.resolve(environment, branch, cached=True)
        if resolution.problems:
            raise FlowfleetError(*resolution.problems)
        git_packages = {d.package for d in resolution.deployments if d.storage == "git"}
        if git_packages:  # a run must find in the commit exactly the code resolved here
            gitstorage.check_committed(session.git_source(environment), git_packages)
        return cls(
            session, environment, resolution.deployments, api_url_for(environment), branch, ahead
        )

    @property
    def lane(self) -> str | None:
        """The branch whose branch deployments this target writes; None for mainline."""
        return branches.lane(self.environment, self.branch)

    def in_lane(self, have: ObservedDeployment) -> bool:
        """Pruning's scope: a branch prunes only its own; mainline never a branch's."""
        return have.branch == self.lane

    def client(self) -> Any:
        """flowfleet's one HTTP client (flowfleet.client), for reads and writes alike."""
        return ApiClient(self.api_url)

    reader = client

    def plan(self, state: ServerState, *, prune: bool = False, adopt: bool = False) -> Plan:
        planned = self._plan(state, prune=prune, adopt=adopt)
        cached = {c.package for c in planned.delete} & self.session.from_cache
        if cached:  # never delete on the strength of a cached resolution: resolve afresh
            self.desired = self.session.refresh(self.environment, self.branch, self.desired, cached)
            planned = self._plan(state, prune=prune, adopt=adopt)
        return planned

    def _plan(self, state: ServerState, *, prune: bool, adopt: bool) -> Plan:
        return make_plan(
            self.desired,
            state,
            environment=self.environment.name,
            project=self.session.workspace.project,
            prune=prune,
            adopt=adopt,
            failed_packages=self.session.fleet.failed_packages,
            prune_scope=self.in_lane,
        )

    def scope(self, prune: bool) -> ReadScope | None:
        """What a plan reads: the project's flows and pools; everything when it prunes."""
        return None if prune else ReadScope.of(self.desired)

    async def read(self, client: Any, scope: ReadScope | None = None) -> ServerState:
        try:
            if self.prefetch and (state := self.prefetch.take(self.api_url, scope)) is not None:
                return state
        except Exception as exc:
            raise FlowfleetError(
                f"reading the server failed: {describe_error(exc, self.api_url)}"
            ) from None
        return await read_state(client, self.api_url, scope)


async def read_state(client: Any, api_url: str, scope: ReadScope | None = None) -> ServerState:
    """The server's deployments, flows and pools; a failure is one line naming the URL."""
    try:
        return await read_server_state(client, api_url, scope)
    except Exception as exc:
        raise FlowfleetError(f"reading the server failed: {describe_error(exc, api_url)}") from None


async def plan(
    target: Target, *, prune: bool = False, adopt: bool = False, client: Any = None
) -> Plan:
    async with client or target.reader() as active:
        state = await target.read(active, target.scope(prune))
        return target.plan(state, prune=prune, adopt=adopt)


async def deploy(
    target: Target,
    *,
    prune: bool = False,
    adopt: bool = False,
    dry_run: bool = False,
    concurrency: int = 1,
    on_outcome: Callable[[Outcome], None] | None = None,
    client: Any = None,
) -> tuple[Plan, Report | None]:
    """Plan, then apply unless dry-run or blocked. The report is None when nothing ran.

    Reads and writes go through flowfleet's one HTTP client; a given `client` serves both.
    """
    async with client or target.reader() as reader:
        state = await target.read(reader, target.scope(prune))
        planned = target.plan(state, prune=prune, adopt=adopt)
        if dry_run or planned.blockers:
            return planned, None
        desired = {d.full_name: d for d in target.desired}
        report = await apply_plan(
            planned, desired, state, reader, concurrency=concurrency, on_outcome=on_outcome
        )
        return planned, report


async def prune(
    target: Target, *, client: Any = None, scope: Callable[[Any], bool] | None = None
) -> Report:
    """Delete only this environment's managed deployments that are no longer declared."""

    def deletes(state: ServerState) -> list[Change]:
        planned = target.plan(state, prune=True)
        if planned.prune_refused:
            raise FlowfleetError(planned.prune_refused)
        return [c for c in planned.delete if scope is None or scope(state.deployments[c.full_name])]

    return await apply_deletes(
        target.api_url,
        target.environment.name,
        target.session.workspace.project,
        deletes,
        client=client or target.reader(),
        read=target.read,
    )


async def apply_deletes(
    api_url: str,
    environment: str,
    project: str,
    choose: Callable[[ServerState], list[Change]],
    *,
    client: Any,
    read: Callable[[Any], Any] | None = None,
) -> Report:
    """The one prune path: read the server, let `choose` pick the deletes (a pure plan),
    apply only those. Used by `prune` and by branch cleanup."""
    async with client as active:
        state = await (read(active) if read else read_state(active, api_url))
        only_deletes = Plan(
            environment=environment, project=project, api_url=api_url, delete=choose(state)
        )
        return await apply_plan(only_deletes, {}, ServerState(api_url), active)


async def pools(
    target: Target, *, update: bool = False, client: Any = None
) -> list[tuple[str, str, str]]:
    async with client or target.client() as active:
        return await ensure_pools(
            active,
            target.api_url,
            required_pools(target.desired),
            target.session.fleet.plugins.infra_types,
            update=update,
        )


def _start_prefetch(session: Session, environment: Environment) -> ServerPrefetch | None:
    try:
        return ServerPrefetch.start(
            api_url_for(environment),
            read_scope.recall(
                read_scope.scope_file(cache_folder(session.workspace, environment.name))
            ),
        )
    except FlowfleetError:
        return None  # no API URL: resolution still runs, and the error comes after it


def _detect_branch(session: Session, environment: Environment) -> str | None:
    """The current branch; None when it cannot be told and nothing depends on it."""
    try:
        return branches.current_branch(session.workspace.root)
    except FlowfleetError:
        if (
            environment.branches is not None
            or environment.branch_deployments
            or _declares_branches(session.fleet)
        ):
            raise
        return None


def _declares_branches(fleet: Fleet) -> bool:
    return any(
        reg.config.branches is not None
        or any("branches" in override for override in reg.config.overrides.values())
        for _, reg in fleet.registrations()
    )
