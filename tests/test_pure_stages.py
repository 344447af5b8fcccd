"""The pure stages, table-driven and server-free: observed parsing, diff, make_plan,
branch cleanup, and resolve with hand-made facts (no git repository, no server).

Each case runs in milliseconds; the real-server suite is the top of the pyramid.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from fleet_sandbox import Sandbox, flow_module
from flowfleet import desired as ownership
from flowfleet.cleanup import cleanup_plan
from flowfleet.desired import DesiredDeployment, Schedule
from flowfleet.environments import Environment
from flowfleet.facts import Facts, Storage
from flowfleet.gitstorage import CLONE_STEP
from flowfleet.observed import ObservedDeployment, ServerState
from flowfleet.plan import Plan, diff, make_plan
from flowfleet.problems import Problem
from flowfleet.resolve import resolve

PROJECT = "acme"
ENV = "prod"
API = "http://server.invalid/api"


def want(name: str = "etl/default", **fields: Any) -> DesiredDeployment:
    """A resolved deployment of this project and environment, labels stamped."""
    flow, _, deployment = name.partition("/")
    branch = fields.pop("branch", None)
    base: dict[str, Any] = dict(
        package="acme-flows",
        flow=flow,
        name=deployment,
        full_name=name,
        entrypoint=f"acme_flows.{flow}:{flow}",
        work_pool="ecs-prod",
        pool_type="ecs",
        infra="ecs",
        job_variables={"cpu": 256, "memory": 512},
        schedules=[Schedule(cron="0 6 * * *", timezone="Europe/Berlin")],
        parameters={"days": 1},
        tags=["etl"],
        labels={
            ownership.MANAGED: "true",
            ownership.PROJECT: PROJECT,
            ownership.ENV: ENV,
            ownership.PACKAGE: "acme-flows",
            **({ownership.BRANCH: branch} if branch else {}),
        },
        signature="(days: int = 7) -> None",
    )
    base.update(fields)
    return DesiredDeployment(**base).finalise()


def server_json(d: DesiredDeployment, **fields: Any) -> dict[str, Any]:
    """What `POST /deployments/filter` returns for a deployment written from `d`."""
    schedules = []
    for s in d.schedules:
        if s.cron:
            schedule = {"cron": s.cron, "timezone": s.timezone, "day_or": True}
        elif s.rrule:
            schedule = {"rrule": s.rrule, "timezone": s.timezone}
        else:
            schedule = {"interval": s.interval, "anchor_date": "2020-01-01T00:00:00Z"}
            schedule["timezone"] = s.timezone
        schedules.append({"id": "s", "active": True, "schedule": schedule})
    data: dict[str, Any] = {
        "id": f"id-{d.full_name}",
        "flow_id": f"flow-{d.flow}",
        "name": d.name,
        "paused": d.paused,
        "labels": dict(d.labels),
        "entrypoint": d.entrypoint,
        "work_pool_name": d.work_pool,
        "job_variables": d.job_variables,
        "schedules": schedules,
        "parameters": d.parameters,
        "tags": list(reversed(d.tags)),
        "description": d.description,
        "version": d.version,
        "concurrency_limit": None,
        "global_concurrency_limit": (
            {"limit": d.concurrency_limit} if d.concurrency_limit is not None else None
        ),
        "pull_steps": d.pull_steps,
        "updated": "2026-01-01T00:00:00Z",
    }
    data.update(fields)
    return data


def have(d: DesiredDeployment, **fields: Any) -> ObservedDeployment:
    return ObservedDeployment.from_json(server_json(d, **fields), d.flow)


def state(*observed: ObservedDeployment, pools: dict[str, str] | None = None) -> ServerState:
    return ServerState(
        API,
        deployments={o.full_name: o for o in observed},
        flow_ids={o.flow: o.flow_id for o in observed},
        pools={"ecs-prod": "ecs"} if pools is None else pools,
    )


def clone_steps(commit: str) -> list[dict[str, Any]]:
    return [{CLONE_STEP: {"repository": "https://git.example/acme.git", "commit_sha": commit}}]


# --- ObservedDeployment.from_json -------------------------------------------------------

PARSE_CASES = {
    "cron schedule": (
        {"schedules": [{"schedule": {"cron": "0 9 * * *", "timezone": "UTC", "day_or": True}}]},
        "schedules",
        [{"cron": "0 9 * * *", "timezone": "UTC"}],
    ),
    "interval without timezone": (
        {"schedules": [{"schedule": {"interval": 600.0, "timezone": None}}]},
        "schedules",
        [{"interval": 600.0, "timezone": "UTC"}],
    ),
    "rrule": (
        {"schedules": [{"schedule": {"rrule": "FREQ=DAILY", "timezone": "UTC"}}]},
        "schedules",
        [{"rrule": "FREQ=DAILY", "timezone": "UTC"}],
    ),
    "global concurrency limit wins": (
        {"global_concurrency_limit": {"limit": 3}, "concurrency_limit": 9},
        "concurrency_limit",
        3,
    ),
    "legacy concurrency limit": ({"concurrency_limit": 9}, "concurrency_limit", 9),
    "tags sorted": ({"tags": ["b", "a"]}, "tags", ["a", "b"]),
    "active label false": ({"labels": {ownership.ACTIVE: "false"}}, "active", False),
    "no active label is active": ({"labels": {}}, "active", True),
    "null job variables": ({"job_variables": None}, "job_variables", {}),
    "null parameters": ({"parameters": None}, "parameters", {}),
}


@pytest.mark.parametrize("case", PARSE_CASES)
def test_observed_parsing(case: str) -> None:
    fields, key, expected = PARSE_CASES[case]
    data = {"id": 1, "flow_id": 2, "name": "default", **fields}
    observed = ObservedDeployment.from_json(data, "etl")
    assert observed.full_name == "etl/default"
    assert (observed.id, observed.flow_id) == ("1", "2")
    assert observed.spec_dict()[key] == expected


def test_observed_labels_are_strings_and_name_the_owner() -> None:
    data = {"id": "x", "flow_id": "f", "name": "n", "labels": {ownership.MANAGED: True}}
    observed = ObservedDeployment.from_json(data, "etl")
    assert observed.labels == {ownership.MANAGED: "True"}
    assert not observed.managed_by(PROJECT)
    mine = have(want())
    assert mine.managed_by(PROJECT) and not mine.managed_by("other")
    assert (mine.environment, mine.package, mine.branch) == (ENV, "acme-flows", None)


# --- diff -------------------------------------------------------------------------------

BASE = want()
DIFF_CASES: dict[str, tuple[DesiredDeployment, dict[str, Any], set[str]]] = {
    "identical": (BASE, {}, set()),
    "tag order is not a change": (BASE, {"tags": ["etl"]}, set()),
    "job variables": (BASE, {"job_variables": {"cpu": 512, "memory": 512}}, {"job_variables"}),
    "work pool": (BASE, {"work_pool_name": "ecs-old"}, {"work_pool"}),
    "parameters": (BASE, {"parameters": {"days": 2}}, {"parameters"}),
    "schedule": (
        BASE,
        {"schedules": [{"schedule": {"cron": "0 7 * * *", "timezone": "Europe/Berlin"}}]},
        {"schedules"},
    ),
    "description": (BASE, {"description": "old"}, {"description"}),
    "paused in code": (
        want(paused=True),
        {"labels": {**BASE.labels, ownership.ACTIVE: "true"}},
        {"active"},
    ),
    "concurrency": (want(concurrency_limit=2), {}, set()),
    "concurrency changed": (
        want(concurrency_limit=2),
        {"global_concurrency_limit": {"limit": 5}},
        {"concurrency_limit"},
    ),
    "ownership label": (BASE, {"labels": {**BASE.labels, ownership.PACKAGE: "old"}}, {"labels"}),
    "only the hash differs": (
        BASE,
        {"labels": {**BASE.labels, ownership.SPEC: "0" * 16}},
        {"spec"},
    ),
    "rrule with the server's DTSTART": (
        want(schedules=[Schedule(rrule="FREQ=DAILY;BYHOUR=8", timezone="UTC")]),
        {
            "schedules": [
                {
                    "schedule": {
                        "rrule": "DTSTART:20200101T000000\nFREQ=DAILY;BYHOUR=8",
                        "timezone": "UTC",
                    }
                }
            ]
        },
        set(),
    ),
    "git commit moves": (
        want(pull_steps=clone_steps("b" * 40), storage="git", commit="b" * 40),
        {"pull_steps": clone_steps("a" * 40)},
        {"pull_steps", "commit"},
    ),
    "image to git storage": (
        want(pull_steps=clone_steps("b" * 40), storage="git", commit="b" * 40),
        {"pull_steps": None},
        {"pull_steps", "storage", "commit"},
    ),
}


@pytest.mark.parametrize("case", DIFF_CASES)
def test_diff(case: str) -> None:
    desired, server_fields, changed = DIFF_CASES[case]
    observed = have(desired, **server_fields)
    assert set(diff(desired, observed)) == changed


def test_diff_names_both_sides_of_a_change() -> None:
    observed = have(BASE, parameters={"days": 2})
    [(field, change)] = diff(BASE, observed).items()
    assert (field, change.from_, change.to) == ("parameters", {"days": 2}, {"days": 1})
    git = want(pull_steps=clone_steps("b" * 40), storage="git", commit="b" * 40)
    changes = diff(git, have(git, pull_steps=clone_steps("a" * 40)))
    assert (changes["commit"].from_, changes["commit"].to) == ("a" * 40, "b" * 40)


# --- make_plan --------------------------------------------------------------------------


def sections(plan: Plan) -> dict[str, list[str]]:
    found = {
        s: [c.full_name for c in getattr(plan, s)]
        for s in ("create", "update", "unchanged", "delete", "conflicts")
    }
    return {s: names for s, names in found.items() if names}


A, B, C = want("etl/a"), want("etl/b"), want("etl/c")
FOREIGN = {**B.labels, ownership.PROJECT: "other"}
PLAN_CASES: dict[str, tuple[list[DesiredDeployment], list[ObservedDeployment], dict, dict]] = {
    "empty server": ([A, B], [], {}, {"create": ["etl/a", "etl/b"]}),
    "create, update, unchanged": (
        [A, B, C],
        [have(A), have(B, parameters={})],
        {},
        {"create": ["etl/c"], "update": ["etl/b"], "unchanged": ["etl/a"]},
    ),
    "paused on the server is kept, not a change": (
        [A],
        [have(A, paused=True)],
        {},
        {"unchanged": ["etl/a"]},
    ),
    "removed is kept without prune": ([A], [have(A), have(B)], {}, {"unchanged": ["etl/a"]}),
    "removed is deleted with prune": (
        [A],
        [have(A), have(B)],
        {"prune": True},
        {"unchanged": ["etl/a"], "delete": ["etl/b"]},
    ),
    "prune leaves another environment's": (
        [A],
        [have(B, labels={**B.labels, ownership.ENV: "dev"})],
        {"prune": True},
        {"create": ["etl/a"]},
    ),
    "prune leaves what is not managed": (
        [],
        [have(B, labels={})],
        {"prune": True},
        {},
    ),
    "unmanaged same name is a conflict": (
        [B],
        [have(B, labels={})],
        {},
        {"conflicts": ["etl/b"]},
    ),
    "another project's is a conflict": (
        [B],
        [have(B, labels=FOREIGN)],
        {},
        {"conflicts": ["etl/b"]},
    ),
    "another environment's is a conflict": (
        [B],
        [have(B, labels={**B.labels, ownership.ENV: "dev"})],
        {},
        {"conflicts": ["etl/b"]},
    ),
    "a branch's is a conflict for the mainline": (
        [B],
        [have(B, labels={**B.labels, ownership.BRANCH: "feat"})],
        {},
        {"conflicts": ["etl/b"]},
    ),
    "adopt takes over another project's": (
        [B],
        [have(B, labels=FOREIGN)],
        {"adopt": True},
        {"update": ["etl/b"]},
    ),
    "a package that did not load is never pruned": (
        [A],
        [have(A), have(B)],
        {"prune": True, "failed_packages": {"acme-flows"}},
        {"unchanged": ["etl/a"]},
    ),
    "prune scope keeps other lanes": (
        [A],
        [have(A), have(B, labels={**B.labels, ownership.BRANCH: "feat"})],
        {"prune": True, "prune_scope": lambda o: o.branch is None},
        {"unchanged": ["etl/a"]},
    ),
}


@pytest.mark.parametrize("case", PLAN_CASES)
def test_make_plan(case: str) -> None:
    desired, observed, options, expected = PLAN_CASES[case]
    plan = make_plan(desired, state(*observed), environment=ENV, project=PROJECT, **options)
    assert sections(plan) == expected
    assert plan.has_changes == bool(
        expected.get("create") or expected.get("update") or expected.get("delete")
    )


def test_plan_details() -> None:
    plan = make_plan(
        [A, B],
        state(have(A, parameters={}), have(B, labels={})),
        environment=ENV,
        project=PROJECT,
    )
    [update] = plan.update
    assert (update.deployment_id, set(update.changes)) == ("id-etl/a", {"parameters"})
    [conflict] = plan.conflicts
    assert "not managed by flowfleet" in conflict.reason
    assert plan.blockers == [f"etl/b: {conflict.reason}"]

    adopted = make_plan(
        [B], state(have(B, labels={})), environment=ENV, project=PROJECT, adopt=True
    )
    assert "labels" in adopted.update[0].changes

    refused = make_plan(
        [A],
        state(have(A)),
        environment=ENV,
        project=PROJECT,
        prune=True,
        failed_packages={"*"},  # an entry point that failed may be any package's
    )
    assert refused.prune_refused and "entry point or plugin did not load" in refused.prune_refused


def test_plan_reports_missing_and_wrong_pools() -> None:
    worker = want("etl/w", work_pool="worker-prod", pool_type="process")
    plan = make_plan(
        [A, worker], state(pools={"ecs-prod": "process"}), environment=ENV, project=PROJECT
    )
    assert plan.missing_pools == {"worker-prod": "process"}
    assert plan.wrong_pools == {"ecs-prod": "has type 'process' but etl/a needs 'ecs'"}
    assert len(plan.blockers) == 2


# --- branch cleanup ---------------------------------------------------------------------

FEAT = want("etl/a--feat", branch="feat")
FIX = want("etl/a--fix", branch="fix")
CLEANUP_CASES = {
    "the closed branch only": ({"feat"}, ["etl/a--feat"]),
    "two branches": ({"feat", "fix"}, ["etl/a--feat", "etl/a--fix"]),
    "no branch": (set(), []),
}


@pytest.mark.parametrize("case", CLEANUP_CASES)
def test_branch_cleanup_plan(case: str) -> None:
    closed, expected = CLEANUP_CASES[case]
    server = state(
        have(A),
        have(FEAT),
        have(FIX),
        have(want("etl/b--feat", branch="feat"), labels={ownership.BRANCH: "feat"}),
        have(
            want("etl/c--feat", branch="feat"),
            labels={**FEAT.labels, ownership.ENV: "dev"},
        ),
    )
    plan = cleanup_plan(server, project=PROJECT, environment=ENV, select=closed.__contains__)
    assert [c.full_name for c in plan.delete] == expected
    assert all(c.reason and c.reason.startswith("branch '") for c in plan.delete)
    assert not (plan.create or plan.update or plan.unchanged)


# --- resolve with facts: no git repository, no environment variable, no network -----------


def _called_from_flowfleet(skip: tuple[str, ...]) -> bool:
    """True when the nearest caller outside the modules in `skip` is flowfleet's code:
    a library's own lazy set-up (pydantic reads its variables, `platform` runs `file`)
    is not the stage's I/O."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_globals.get("__name__", "") in skip:
        frame = frame.f_back
    return frame is not None and frame.f_globals.get("__name__", "").startswith("flowfleet")


@contextmanager
def no_io(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail when flowfleet's code runs a subprocess (git), connects a socket or reads an
    environment variable."""
    popen, connect = subprocess.Popen, socket.socket.connect

    def guarded_popen(*args: Any, **kwargs: Any) -> Any:
        if _called_from_flowfleet(("subprocess",)):
            raise AssertionError(f"subprocess in a pure stage: {args[:1]}")
        return popen(*args, **kwargs)

    def guarded_connect(self: socket.socket, *args: Any) -> Any:
        if _called_from_flowfleet(("socket",)):
            raise AssertionError(f"network in a pure stage: {args}")
        return connect(self, *args)

    class Environ(dict):
        def get(self, key: str, default: Any = None) -> Any:
            if _called_from_flowfleet(("os",)):
                raise AssertionError(f"environment variable read in a pure stage: {key}")
            return super().get(key, default)

        def __getitem__(self, key: str) -> Any:
            if _called_from_flowfleet(("os",)):
                raise AssertionError(f"environment variable read in a pure stage: {key}")
            return super().__getitem__(key)

    with monkeypatch.context() as patch:
        patch.setattr(subprocess, "Popen", guarded_popen)
        patch.setattr(socket.socket, "connect", guarded_connect)
        patch.setattr(os, "environ", Environ(os.environ))
        yield


def test_the_guard_catches_flowfleets_own_io(monkeypatch: pytest.MonkeyPatch) -> None:
    from flowfleet import branches, gitstorage

    with no_io(monkeypatch):
        with pytest.raises(AssertionError, match="environment variable"):
            branches.current_branch(Path("."))
        with pytest.raises(AssertionError, match="subprocess"):
            gitstorage._git(Path("."), "status")


def test_resolve_plan_and_diff_run_without_git_env_or_network(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert not (sandbox.root / ".git").exists()
    sandbox.package(
        "acme_flows",
        {"etl": flow_module("acme_flows", 'cron="0 6 * * *", infra=EcsTask(cpu=256, memory=512)')},
    )
    fleet = sandbox.fleet()
    environment = Environment(name=ENV, image_registry="registry.example", default_infra="ecs")
    facts = Facts(
        project=PROJECT,
        environment=environment,
        known_environments=["dev", ENV],
        branch="main",
        image_tags={"acme-flows": "0123456789ab"},
    )
    with no_io(monkeypatch):
        resolution = resolve(fleet, facts)
        assert resolution.problems == []
        [deployment] = resolution.deployments
        plan = make_plan(
            resolution.deployments, state(), environment=ENV, project=PROJECT, prune=True
        )
        changes = diff(deployment, have(deployment, parameters={"audience": "ops"}))
    assert resolution.problems == []
    assert deployment.image == "registry.example/acme-flows:0123456789ab"
    assert deployment.labels[ownership.PROJECT] == PROJECT
    assert sections(plan) == {"create": ["acme-report/default"]}
    assert set(changes) == {"parameters"}


RESOLVE_CASES: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    "content tag": ("", {}, {"image": "registry.example/acme-flows:0123456789ab"}),
    "default tag for a package without one": (
        "",
        {"image_tags": {}, "default_tag": "ci-7"},
        {"image": "registry.example/acme-flows:ci-7"},
    ),
    "branch deployment": (
        "",
        {"environment": Environment(name=ENV, branch_deployments=True), "branch": "feat/x"},
        {"paused": True, "name": "default--feat-x-79b4cc55"},
    ),
    "branch filter leaves it out": ('branches=["main"]', {"branch": "feat/x"}, {}),
    "environment filter leaves it out": ('environments=["dev"]', {}, {}),
    "override for this environment": (
        f'overrides={{"{ENV}": {{"tags": ["o"]}}}}',
        {},
        {"tags": ["o"]},
    ),
    "git storage from the facts": (
        "",
        {
            "environment": Environment(name=ENV, base_image="runtime:1", default_infra="ecs"),
            "storage": {"acme-flows": Storage("git", clone_steps("c" * 40), "c" * 40)},
        },
        {"storage": "git", "commit": "c" * 40, "image": "runtime:1"},
    ),
    "single pool": (
        "",
        {"environment": Environment(name="local", single_pool="local")},
        {"work_pool": "local", "pool_type": "process", "image": None},
    ),
}


@pytest.mark.parametrize("case", RESOLVE_CASES)
def test_resolve(case: str, sandbox: Sandbox) -> None:
    config, facts_fields, expected = RESOLVE_CASES[case]
    sandbox.package("acme_flows", {"etl": flow_module("acme_flows", config)})
    facts = Facts(
        **{
            "project": PROJECT,
            "environment": Environment(
                name=ENV, image_registry="registry.example", default_infra="ecs"
            ),
            "known_environments": ["dev", ENV, "local"],
            "image_tags": {"acme-flows": "0123456789ab"},
            **facts_fields,
        }
    )
    resolution = resolve(sandbox.fleet(), facts)
    assert resolution.problems == []
    if not expected:
        assert resolution.deployments == []
        return
    [deployment] = resolution.deployments
    assert {k: getattr(deployment, k) for k in expected} == expected


def test_resolve_reports_a_storage_problem_once_per_package(sandbox: Sandbox) -> None:
    module = flow_module("acme_flows", "") + flow_module("acme_flows", 'name="b"').split(
        "from acme_flows import registry"
    )[1].replace("def report", "def report_b")
    sandbox.package("acme_flows", {"etl": module})
    bad = Storage("image", problems=(Problem("not a storage mode", "acme-flows"),))
    facts = Facts(
        project=PROJECT,
        environment=Environment(name=ENV),
        known_environments=[ENV],
        storage={"acme-flows": bad},
    )
    resolution = resolve(sandbox.fleet(), facts)
    assert resolution.deployments == []
    assert [p.message for p in resolution.problems] == ["not a storage mode"]


def test_resolve_finds_a_name_two_cached_packages_share(sandbox: Sandbox) -> None:
    # Packages cached by separate prewarm workers never saw each other's names.
    first = want("etl/default", source="acme_flows/etl.py:3")
    second = want("etl/default", package="acme-billing", source="acme_billing/etl.py:9")
    facts = Facts(project=PROJECT, environment=Environment(name=ENV), known_environments=[ENV])
    resolution = resolve(sandbox.fleet(), facts, resolved=[first, second])
    assert resolution.deployments == [first]
    [problem] = resolution.problems
    assert (problem.package, problem.flow, problem.field) == ("acme-billing", "etl/default", "name")
    assert "at acme_flows/etl.py:3 (acme-flows) and at acme_billing/etl.py:9" in problem.message
