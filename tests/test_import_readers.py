"""Reading a prefect.yaml and a server's rows into ExistingDeployment records: pure."""

from __future__ import annotations

import re

import pytest

from flowfleet.importer.existing import ExistingSchedule
from flowfleet.importer.prefect_yaml import read_prefect_yaml
from flowfleet.importer.server import from_row
from flowfleet.observed import module_entrypoint, plain_description
from flowfleet.problems import FlowfleetError

PREFECT_YAML = """\
definitions:
  pool: &pool
    name: ecs-prod
    job_variables: {cpu: 512}
deployments:
- name: a
  entrypoint: flows/a.py:a
  schedule: {cron: "0 6 * * *", timezone: Europe/Berlin}
  work_pool: *pool
- name: b
  entrypoint: flows/b.py:b
  schedules:
  - {interval: 60, anchor_date: "2024-01-01T00:00:00Z", active: false}
  work_pool:
    <<: *pool
    work_queue_name: critical
  concurrency_limit: {limit: 2, collision_strategy: CANCEL_NEW}
  paused: true
  sla: [{name: fast}]
  pull: [{prefect.deployments.steps.git_clone: {repository: x}}]
"""


def test_prefect_yaml_anchors_merge_keys_and_the_older_schedule_key(tmp_path):
    path = tmp_path / "prefect.yaml"
    path.write_text(PREFECT_YAML)
    a, b = read_prefect_yaml(path)
    assert (a.origin, b.origin) == ("prefect.yaml deployments[0]", "prefect.yaml deployments[1]")
    assert a.schedules == [ExistingSchedule(cron="0 6 * * *", timezone="Europe/Berlin")]
    assert a.work_pool == b.work_pool == "ecs-prod"
    assert a.job_variables == b.job_variables == {"cpu": 512}
    assert b.schedules == [
        ExistingSchedule(interval=60.0, active=False, anchor_date="2024-01-01T00:00:00Z")
    ]
    assert b.work_queue == "critical" and b.paused is True
    assert b.concurrency_limit == {"limit": 2, "collision_strategy": "CANCEL_NEW"}
    assert b.unsupported == {"sla": [{"name": "fast"}]}  # `pull` is flowfleet's to write


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\n", "no `deployments:` list"),
        ("deployments:\n- entrypoint: a.py:f\n", "deployments[0]: a deployment needs a mapping"),
        ("deployments: [\n", "prefect.yaml:2: invalid YAML"),
    ],
)
def test_prefect_yaml_that_cannot_be_read(tmp_path, text, message):
    path = tmp_path / "prefect.yaml"
    path.write_text(text)
    with pytest.raises(FlowfleetError, match=re.escape(message)):
        read_prefect_yaml(path)


def test_server_row():
    row = {
        "id": "d1",
        "flow_id": "f1",
        "name": "nightly",
        "entrypoint": "acme_flows.etl.load",
        "description": "None",
        "version": "abc",
        "tags": ["t"],
        "parameters": {"days": 1},
        "paused": True,
        "work_pool_name": "ecs-prod",
        "work_queue_name": "default",
        "job_variables": {"cpu": 512},
        "global_concurrency_limit": {"limit": 3},
        "concurrency_options": {"collision_strategy": "ENQUEUE"},
        "schedules": [
            {
                "schedule": {"interval": 3600.0, "anchor_date": "2025-01-01", "timezone": "UTC"},
                "active": True,
                "parameters": {},
                "slug": None,
                "max_scheduled_runs": None,
            }
        ],
    }
    found = from_row(row, "load", "ecs", ["on-upstream"], origin="http://server/api")
    assert found.label == "load/nightly"
    assert found.description is None  # Prefect's client wrote "None" for none
    assert found.schedules == [ExistingSchedule(interval=3600.0, timezone="UTC")]
    assert found.concurrency_limit == {"limit": 3, "collision_strategy": "ENQUEUE"}
    assert (found.paused, found.pool_type, found.triggers) == (True, "ecs", ["on-upstream"])


@pytest.mark.parametrize(
    ("entrypoint", "spelled"),
    [
        ("pkg.module.flow_fn", "pkg.module:flow_fn"),
        ("pkg.module:flow_fn", "pkg.module:flow_fn"),
        ("flows/etl.py:load", "flows/etl.py:load"),
        ("flows/etl.py", "flows/etl.py"),
        (None, None),
    ],
)
def test_module_entrypoints_have_one_spelling(entrypoint, spelled):
    assert module_entrypoint(entrypoint) == spelled


def test_a_description_of_none_is_none():
    assert plain_description("None") is None
    assert plain_description("Loads.") == "Loads."


def test_automations_that_run_a_deployment_are_its_triggers():
    from flowfleet.importer.server import _triggers_by_deployment

    run_d1 = {"type": "run-deployment", "deployment_id": "d1", "parameters": {"x": 1}}
    automations = [
        {
            "name": "after-upstream",
            "trigger": {"type": "event", "expect": ["e"]},
            "actions": [run_d1],
        },
        {"name": "page-me", "actions": [{"type": "send-notification"}]},
        {"name": "self", "actions": [{"type": "run-deployment", "deployment_id": None}]},
        {"name": "two", "trigger": {}, "actions": [run_d1, {"type": "send-notification"}]},
    ]
    assert _triggers_by_deployment(automations) == {
        "d1": [
            {"type": "event", "expect": ["e"], "name": "after-upstream", "parameters": {"x": 1}},
            "'two': it does more than run this deployment",
        ]
    }
