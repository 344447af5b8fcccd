"""Work pools as code, without a server: the TOML, the merge, the diff, the checks.

`[pools.<key>]` in an environment file declares a pool's job-variable defaults,
concurrency limit, queues and optionally a template file; `ecs = "ecs-prod"` stays
valid. Bad declarations are one line each, found before any server call.
"""

from __future__ import annotations

import json

import pytest
from prefect_aws.workers.ecs_worker import ECSWorker

from fleet_sandbox import Sandbox, flow_module
from flowfleet.environments import load_environment
from flowfleet.pool_plan import diff_pool, plan_pool
from flowfleet.pool_settings import PoolSettings
from flowfleet.pool_spec import PoolSpec, QueueSpec, marker
from test_bad_input import environment_file

PKG = "acme_flows"
PROD = """\
default_infra = "ecs"
image_registry = "registry.example"

[pools.ecs]
name = "ecs-prod"
concurrency_limit = 50
[pools.ecs.variables]
cluster = "prod"
vpc_id = "vpc-0abc"
execution_role_arn = "arn:aws:iam::111111111111:role/ecs-exec"
[pools.ecs.queues.critical]
priority = 1
concurrency_limit = 10
[pools.ecs.queues.bulk]
priority = 5
"""


def stock_ecs() -> dict:
    return ECSWorker.get_default_base_job_template()


def test_both_forms_load_and_name_the_pool(sandbox: Sandbox) -> None:
    (sandbox.env_dir / "prod.toml").write_text(PROD)
    env = load_environment(sandbox.env_dir, "prod")
    assert env.pool_for("ecs", PKG) == "ecs-prod"
    assert env.pools["ecs"].variables["cluster"] == "prod"
    assert env.pools["ecs"].queues["critical"].concurrency_limit == 10
    (sandbox.env_dir / "dev.toml").write_text('[pools]\necs = "ecs-{env}"\n')
    dev = load_environment(sandbox.env_dir, "dev")
    assert dev.pool_for("ecs", PKG) == "ecs-dev" and not dev.pools["ecs"].declares


def test_merge_sets_declared_defaults_and_keeps_the_rest() -> None:
    stock = stock_ecs()
    merged = PoolSettings(variables={"cluster": "prod", "vpc_id": "vpc-0abc"}).merged_template(
        stock
    )
    assert merged["job_configuration"] == stock["job_configuration"]
    props, stock_props = merged["variables"]["properties"], stock["variables"]["properties"]
    assert props["cluster"]["default"] == "prod" and props["vpc_id"]["default"] == "vpc-0abc"
    assert props["cluster"]["anyOf"] == stock_props["cluster"]["anyOf"]  # schema kept
    assert {k: v for k, v in props.items() if k not in ("cluster", "vpc_id")} == {
        k: v for k, v in stock_props.items() if k not in ("cluster", "vpc_id")
    }
    assert stock_props["cluster"]["default"] is None  # the stock template is not edited


def _declared(settings: PoolSettings, template: dict | None = None) -> PoolSpec:
    return PoolSpec(
        name="ecs-prod",
        type="ecs",
        settings=settings,
        concurrency_limit=settings.concurrency_limit,
        base_job_template=settings.merged_template(template or stock_ecs()),
        queues={n: QueueSpec(**q.model_dump()) for n, q in settings.queues.items()},
    )


def _observed(template: dict, **fields) -> PoolSpec:
    fields.setdefault("description", marker("acme", "prod"))
    return PoolSpec(name="ecs-prod", type="ecs", base_job_template=template, **fields)


SETTINGS = PoolSettings(
    concurrency_limit=50,
    variables={"cluster": "prod"},
    queues={"critical": {"priority": 1, "concurrency_limit": 10}},
)


def test_diff_names_only_the_declared_keys_that_moved() -> None:
    want = _declared(SETTINGS)
    on_server = want.base_job_template
    same = _observed(
        on_server,
        concurrency_limit=50,
        queues={"critical": QueueSpec(priority=1, concurrency_limit=10), "other": QueueSpec()},
    )
    assert diff_pool(want, same) == {}
    edited = json.loads(json.dumps(on_server))
    edited["variables"]["properties"]["cluster"]["default"] = "by-hand"
    edited["variables"]["properties"]["cpu"]["default"] = 4096  # undeclared: not compared
    drifted = _observed(edited, concurrency_limit=5, queues={"critical": QueueSpec(priority=3)})
    assert {k: c.pair() for k, c in diff_pool(want, drifted).items()} == {
        "variables.cluster": {"from": "by-hand", "to": "prod"},
        "concurrency_limit": {"from": 5, "to": 50},
        "queues.critical.priority": {"from": 3, "to": 1},
        "queues.critical.concurrency_limit": {"from": None, "to": 10},
    }
    missing_queue = _observed(on_server, concurrency_limit=50)
    assert diff_pool(want, missing_queue)["queues.critical"].to == {
        "priority": 1,
        "concurrency_limit": 10,
    }


def test_a_template_file_is_the_whole_template() -> None:
    stock = stock_ecs()
    settings = PoolSettings(template="t.json", template_content=stock, variables={"cpu": 512})
    want = _declared(settings)
    server = json.loads(json.dumps(want.base_job_template))
    server["variables"]["properties"]["extra"] = {"type": "string"}
    server["job_configuration"]["cluster"] = "by-hand"
    changes = diff_pool(want, _observed(server))
    assert sorted(changes) == ["job_configuration", "variables.extra"]


@pytest.mark.parametrize(
    ("description", "adopt", "action"),
    [
        (marker("acme", "prod"), False, "unchanged"),
        (None, False, "conflict"),
        ("made by Helm", False, "conflict"),
        (marker("other", "prod"), False, "conflict"),
        (marker("acme", "dev"), False, "conflict"),
        (None, True, "update"),
    ],
)
def test_a_pool_flowfleet_did_not_create_needs_adopt(description, adopt, action) -> None:
    want = _declared(PoolSettings(variables={"cluster": "prod"}))
    have = _observed(want.base_job_template, description=description)
    row = plan_pool(want, have, project="acme", environment="prod", adopt=adopt)
    assert row.action == action
    if action == "conflict":
        assert "--adopt" in row.reason
    if adopt:
        assert list(row.changes) == ["owner"]


def test_a_missing_pool_is_created_and_a_wrong_type_is_a_conflict() -> None:
    want = _declared(SETTINGS)
    assert plan_pool(want, None, project="a", environment="p", adopt=False).action == "create"
    process = PoolSpec(name="ecs-prod", type="process")
    row = plan_pool(want, process, project="a", environment="p", adopt=True)
    assert row.action == "conflict" and "has type 'process'" in row.reason


def _prod(sandbox: Sandbox, extra: str = "", config: str = "infra=EcsTask(cpu=512, memory=1024)"):
    (sandbox.env_dir / "prod.toml").write_text(PROD + extra)
    sandbox.package(PKG, {"report": flow_module(PKG, config)})
    return sandbox.problems("prod")


def test_a_declared_queue_passes_and_reaches_the_deployment(sandbox: Sandbox) -> None:
    assert _prod(sandbox, config='work_queue="critical"') == []
    [deployment] = sandbox.resolve().deployments
    assert deployment.work_queue == "critical" and deployment.work_pool == "ecs-prod"


def _template(text: str):
    def arrange(sb: Sandbox) -> list[str]:
        (sb.env_dir / "t.json").write_text(text)
        declared = PROD.replace('name = "ecs-prod"\n', 'name = "ecs-prod"\ntemplate = "t.json"\n')
        return environment_file("prod", declared)(sb)

    return arrange


@pytest.mark.parametrize(
    ("arrange", "expect"),
    [
        pytest.param(
            lambda sb: _prod(sb, config='work_queue="urgent"'),
            [
                "field 'work_queue': work queue 'urgent' is not declared for pool 'ecs-prod' "
                "(declared: default, bulk, critical)",
                "(fix: declare it under [pools.ecs.queues.urgent]",
            ],
            id="queue-not-declared",
        ),
        pytest.param(
            lambda sb: _prod(sb, config='job_variables={"cluster": 5}'),
            ["cluster is an integer (5); the template expects string"],
            id="job-variable-type-against-declared-template",
        ),
        pytest.param(
            lambda sb: _prod_with(sb, 'clustr = "prod"'),
            [
                "field 'pools.ecs.variables.clustr': 'clustr' is not a job variable",
                "(fix: did you mean 'cluster'?)",
            ],
            id="declared-variable-misspelt",
        ),
        pytest.param(
            _template("{ nope"),
            ["prod.toml:6: key 'pools.ecs.template': t.json is not valid JSON"],
            id="template-not-json",
        ),
        pytest.param(
            _template('{"variables": {}}'),
            ["key 'pools.ecs.template': t.json is not a base job template: it needs"],
            id="template-not-a-template",
        ),
        pytest.param(
            _template(
                '{"job_configuration": {"cpu": "{{ cpuu }}"}, "variables": {"properties": {}}}'
            ),
            ["t.json is not a base job template: its job_configuration uses cpuu"],
            id="template-undeclared-placeholder",
        ),
    ],
)
def test_bad_pool_declarations_are_one_line_each(sandbox: Sandbox, arrange, expect) -> None:
    problems = arrange(sandbox)
    matching = [line for line in problems if all(part in line for part in expect)]
    assert len(matching) == 1, problems
    assert all("\n" not in line and "Traceback" not in line for line in problems)


def _prod_with(sandbox: Sandbox, variable: str) -> list[str]:
    (sandbox.env_dir / "prod.toml").write_text(
        PROD.replace('cluster = "prod"\n', f'cluster = "prod"\n{variable}\n')
    )
    sandbox.package(PKG, {"report": flow_module(PKG, "infra=EcsTask(cpu=512, memory=1024)")})
    return sandbox.problems("prod")


def test_plan_json_gains_a_pools_section_and_keeps_its_keys() -> None:
    from flowfleet.changes import FieldChange, PoolChange
    from flowfleet.plan import Plan
    from flowfleet.render import plan_json, plan_markdown

    plan = Plan(environment="prod", project="acme", api_url="http://x/api")
    before = ["environment", "project", "api_url", "create", "update", "unchanged", "delete"]
    before += ["conflicts", "blockers", "automations", "not_declared", "broken_packages"]
    # the keys before pools, in their order: existing keys never move
    assert not plan.has_changes
    plan.pools = [
        PoolChange(
            name="ecs-prod",
            action="update",
            type="ecs",
            changes={"variables.cluster": FieldChange(from_="by-hand", to="prod")},
        ),
        PoolChange(name="k8s-prod", action="unchanged", type="kubernetes"),
        PoolChange(name="gpu", action="conflict", type="ecs", reason="exists; pass --adopt"),
    ]
    data = plan_json(plan)
    assert list(data) == [*before, "pools"]
    assert data["pools"] == {
        "create": [],
        "update": [
            {
                "name": "ecs-prod",
                "type": "ecs",
                "changes": {"variables.cluster": {"from": "by-hand", "to": "prod"}},
            }
        ],
        "unchanged": [{"name": "k8s-prod", "type": "kubernetes"}],
        "conflicts": [{"name": "gpu", "type": "ecs", "reason": "exists; pass --adopt"}],
    }
    assert plan.has_changes and plan.blockers == ["work pool 'gpu': exists; pass --adopt"]
    assert "| `ecs-prod` | ecs | update | variables.cluster: by-hand → prod |" in plan_markdown(
        plan
    )


def test_no_work_queue_is_the_default_queue_and_leaves_the_hash_alone() -> None:
    from flowfleet.observed import ObservedDeployment
    from flowfleet.spec import DeploymentSpec

    row = {"id": "1", "flow_id": "2", "name": "d", "work_queue_name": "default"}
    assert ObservedDeployment.from_json(row, "f").spec.work_queue is None
    row["work_queue_name"] = "critical"
    assert ObservedDeployment.from_json(row, "f").spec.work_queue == "critical"
    assert DeploymentSpec().hash() == DeploymentSpec(work_queue=None).hash()
    assert DeploymentSpec().hash() != DeploymentSpec(work_queue="critical").hash()
