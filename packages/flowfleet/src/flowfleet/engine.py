"""Orchestration for one environment: load, read the server, plan, apply.

The CLI calls these; tests call them in-process with their own session or client.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from flowfleet import branches, deletes, gitstorage, partial, read_scope, scope, worker_images
from flowfleet.alerts import target_alerts
from flowfleet.apply import Outcome, Report, apply_plan
from flowfleet.automation_apply import apply_automations
from flowfleet.automation_plan import plan_automations
from flowfleet.automations import DesiredAutomation, from_triggers
from flowfleet.cache import folder as cache_folder
from flowfleet.client import ApiClient
from flowfleet.connection import api_url_for
from flowfleet.desired import DesiredDeployment
from flowfleet.environments import Environment
from flowfleet.lease import LeaseSettings, guard, limit_name
from flowfleet.observed import ObservedDeployment, ServerState, read_failed, read_state
from flowfleet.plan import Change, Plan, make_plan
from flowfleet.pool_spec import desired_pools
from flowfleet.pools import DeclaredPools, ensure_pools
from flowfleet.prefetch import ServerPrefetch
from flowfleet.problems import FlowfleetError, Problem
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
    broken: dict[str, list[Problem]] = field(default_factory=dict)  # left alone (partial.py)
    packages: frozenset[str] | None = None  # --package: None means every package
    more_automations: list[DesiredAutomation] = field(default_factory=list)  # beyond triggers
    last_scope: ReadScope | None = None  # what the last run declared (read_scope.recall)

    @property
    def automations(self) -> list[DesiredAutomation]:
        """Every automation this environment should hold: one per trigger, then the rest."""
        return from_triggers(self.desired) + self.more_automations

    @classmethod
    def load(
        cls,
        env: str,
        session: Session | None = None,
        branch: str | None = None,
        *,
        prefetch: bool = False,
        partial_load: bool = False,
        packages: Iterable[str] = (),
    ) -> Target:
        """Resolve `env` for `branch` (default: detected); any problem stops here,
        before anything is written, including a branch the environment refuses.

        With `prefetch`, the server is read on a thread while the fleet resolves, for
        `plan` and `deploy` (prefetch.py). With `partial_load`, a package's own problems
        block only that package (partial.py); `packages` (`--package`) limits the target
        to those packages (scope.py).
        """
        session = session or Session()
        environment = session.environment(env)
        only = scope.chosen(session.loaded_plugins, packages)
        branch = branch or branches.branch_for(
            session.workspace.root, environment, lambda: session.fleet
        )
        if branch is not None:
            branches.check_allowed(environment, branch)
        remembered = read_scope.scope_file(cache_folder(session.workspace, environment.name))
        lease = limit_name(session.workspace.project, environment.name)
        ahead = ServerPrefetch.start_for(environment, remembered, lease) if prefetch else None
        last_scope = read_scope.recall(remembered)  # before resolving writes this run's
        settled = ahead.settled if ahead else None  # it holds its pages until then
        resolution = session.resolve(environment, branch, cached=True, settled=settled)
        if resolution.problems and not partial_load:
            raise FlowfleetError(*resolution.problems)
        loaded = partial.split(resolution, session.fleet).scoped(only)
        git_packages = {d.package for d in loaded.desired if d.storage == "git"}
        if git_packages:  # a run must find in the commit exactly the code resolved here
            gitstorage.check_committed(session.git_source(environment), git_packages)
        api_url = api_url_for(environment)
        return cls(
            session,
            environment,
            loaded.desired,
            api_url,
            branch,
            ahead,
            loaded.broken,
            only,
            last_scope=last_scope,
        )

    @property
    def lease(self) -> str:  # the deploy lease of this project and environment
        return limit_name(self.session.workspace.project, self.environment.name)

    @property
    def lane(self) -> str | None:
        """The branch whose branch deployments this target writes; None for mainline."""
        return branches.lane(self.environment, self.branch)

    def in_lane(self, have: ObservedDeployment) -> bool:
        """Pruning's scope: a branch prunes only its own; mainline never a branch's;
        with `--package`, only those packages' deployments."""
        return have.branch == self.lane and (self.packages is None or have.package in self.packages)

    def client(self) -> Any:
        """flowfleet's one HTTP client (flowfleet.client), for reads and writes alike."""
        return ApiClient(self.api_url)

    reader = client

    def plan(self, state: ServerState, *, prune: bool = False, adopt: bool = False) -> Plan:
        planned = self._plan(state, prune=prune, adopt=adopt)
        doomed = planned.delete + planned.automations.delete
        cached = {c.package for c in doomed} & self.session.from_cache
        if cached:  # never delete on the strength of a cached resolution: resolve afresh
            self.desired = self.session.refresh(self.environment, self.branch, self.desired, cached)
            self.desired, self.broken = partial.failed_afresh(
                self.desired, self.broken, self.session.fleet
            )
            planned = self._plan(state, prune=prune, adopt=adopt)
        planned.broken = partial.lines(self.broken)
        runs = worker_images.runs_in(self.session, self.environment, self.desired)
        for change in planned.create + planned.update + planned.unchanged:
            change.runs = runs.get(change.full_name)
        return planned

    def _plan(self, state: ServerState, *, prune: bool, adopt: bool) -> Plan:
        planned = make_plan(
            self.desired,
            state,
            environment=self.environment.name,
            project=self.session.workspace.project,
            prune=prune,
            adopt=adopt,
            failed_packages=self.session.fleet.failed_packages | set(self.broken),
            prune_scope=self.in_lane,
        )
        planned.automations = plan_automations(
            self.automations + target_alerts(self, state.notification_blocks),
            state.automations,
            {name: d.id for name, d in state.deployments.items()},
            project=self.session.workspace.project,
            environment=self.environment.name,
            branch=self.lane,
            packages={d.package for d in self.desired},
            prune=prune,
            adopt=adopt,
            failed_packages=self.session.fleet.failed_packages | set(self.broken),
            scope=self.packages,
        )
        return planned

    async def declared_pools(self, client: Any, *, adopt: bool = False) -> DeclaredPools:
        """The pools `[pools.<key>]` declares, read from the server and planned."""
        return await DeclaredPools.read(
            client,
            self.desired,
            self.environment,
            self.session.fleet.plugins.infra_types,
            project=self.session.workspace.project,
            adopt=adopt,
        )

    async def reads(self, client: Any, prune: bool) -> ReadScope | None:
        """What a plan reads: everything when it prunes or the server is not crowded
        (flowfleet.read_scope); else the project's flows and pools, with the flows the
        last run declared, so a flow renamed since is still listed as not declared."""
        if prune:
            return None
        try:
            if not await read_scope.crowded(client):
                return None
        except Exception as exc:
            raise read_failed(exc, self.api_url) from None
        scope = ReadScope.of(self.desired)
        return scope.union(self.last_scope) if self.last_scope else scope

    async def read(self, client: Any, scope: ReadScope | None = None) -> ServerState:
        try:
            if self.prefetch and (state := self.prefetch.take(self.api_url, scope)) is not None:
                return state
        except Exception as exc:
            raise read_failed(exc, self.api_url) from None
        return await read_state(client, self.api_url, scope, self.lease)


async def plan(
    target: Target, *, prune: bool = False, adopt: bool = False, client: Any = None
) -> Plan:
    async with client or target.reader() as active:
        state = await target.read(active, await target.reads(active, prune))
        planned = target.plan(state, prune=prune, adopt=adopt)
        return (await target.declared_pools(active, adopt=adopt)).attach(planned)


async def deploy(
    target: Target,
    *,
    prune: bool = False,
    adopt: bool = False,
    dry_run: bool = False,
    concurrency: int | None = 1,
    on_outcome: Callable[[Outcome], None] | None = None,
    client: Any = None,
    lease: LeaseSettings | None = None,
    on_plan: Callable[[Plan], None] | None = None,
    say: Callable[[str], None] = print,
) -> tuple[Plan, Report | None]:
    """Plan, then apply unless dry-run or blocked. The report is None when nothing ran.

    One HTTP client (a given `client`) reads and writes, `concurrency` None is `auto`.
    With `lease`, a write run holds the server-kept deploy lease (flowfleet.lease) from
    its read to its last write; `on_plan` sees the plan just before it is applied.
    """
    async with client or target.reader() as reader:
        scope = await target.reads(reader, prune)  # an unreachable server fails here, at once
        state = await target.read(reader, scope)
        project, env = target.session.workspace.project, target.environment.name
        settings = None if dry_run else lease
        async with guard(reader, target.api_url, target.lease, settings, say) as held:
            if held is not None and not held.unchanged_since(state.lease_mark):
                state = await read_state(reader, target.api_url, scope)  # written since
            planned = target.plan(state, prune=prune, adopt=adopt)
            pools = await target.declared_pools(reader, adopt=adopt)
            pools.attach(planned)
            if dry_run or planned.blockers:
                return planned, None
            if on_plan:
                on_plan(planned)
            pooled = await pools.apply(
                reader, project=project, environment=env, api_url=target.api_url
            )
            desired = {d.full_name: d for d in target.desired}
            report = await apply_plan(
                planned, desired, state, reader, concurrency=concurrency, on_outcome=on_outcome
            )
            # Pools first, as they were applied; an unchanged pool is not news in the report.
            report.outcomes[:0] = [o for o in pooled if o.status != "unchanged"]
            await apply_automations(planned.automations, state, reader, report, on_outcome)
            return planned, report


async def prune(
    target: Target, *, client: Any = None, scope: Callable[[Any], bool] | None = None
) -> Report:
    """Delete only this environment's managed deployments that are no longer declared."""

    def choose(state: ServerState) -> list[Change]:
        planned = target.plan(state, prune=True)
        if planned.prune_refused:
            raise FlowfleetError(planned.prune_refused)
        return [c for c in planned.delete if scope is None or scope(state.deployments[c.full_name])]

    return await deletes.apply_deletes(
        target.api_url,
        target.environment.name,
        target.session.workspace.project,
        choose,
        client=client or target.reader(),
        read=target.read,
    )


async def pools(
    target: Target, *, update: bool = False, adopt: bool = False, client: Any = None
) -> list[Outcome]:
    """`flowfleet pools`: declared pools planned and applied as `deploy` does; the
    others created from their stock template (replaced with `update`)."""
    project, env = target.session.workspace.project, target.environment.name
    async with client or target.client() as active:
        declared = await target.declared_pools(active, adopt=adopt)
        outcomes = await declared.apply(
            active, project=project, environment=env, api_url=target.api_url
        )
        others = [
            p
            for p in desired_pools(
                target.desired, target.environment, target.session.fleet.plugins.infra_types
            )
            if p.name not in declared.wanted
        ]
        outcomes += await ensure_pools(
            active, target.api_url, others, project=project, environment=env, update=update
        )
        return sorted(outcomes, key=lambda o: o.full_name)
