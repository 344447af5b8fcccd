"""Mapping an existing deployment to DeploymentConfig arguments: pure, table-driven."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from flowfleet import Cron, Interval, RRule
from flowfleet.config import ConcurrencyOptions, DeploymentConfig
from flowfleet.environments import Environment
from flowfleet.importer.existing import ExistingDeployment, ExistingSchedule
from flowfleet.importer.mapping import Target, map_deployment
from flowfleet.importer.pysource import render
from flowfleet.infra.ecs import EcsTask
from flowfleet.infra.worker import Worker
from flowfleet_kubernetes import KubernetesJob

ENV = Environment(
    name="prod",
    default_infra="ecs",
    image_registry="registry.example",
    pools={"ecs": "ecs-prod", "worker": "process-prod", "worker-docker": "docker-prod"},
)
TYPES = {"ecs": EcsTask, "worker": Worker, "kubernetes": KubernetesJob}
IMAGE = "registry.example/acme:1.0"


def mapped(environment: Environment | None = ENV, docstring: str | None = None, **fields: Any):
    existing = ExistingDeployment(
        **{"name": "nightly", "entrypoint": "a.py:f", "origin": "test"} | fields
    )
    target = Target("acme-flows", "ecs", environment, TYPES, docstring)
    return map_deployment(existing, target)


def arguments(result) -> dict[str, str]:
    """Each argument as the source it is written as."""
    return {k: render(v) for k, v in result.config.arguments}


CASES = [
    ("nothing but a name", {}, {"name": '"nightly"'}),
    ("the default name is left out", {"name": "default"}, {}),
    (
        "cron in a timezone",
        {"schedules": [ExistingSchedule(cron="0 6 * * *", timezone="Europe/Berlin")]},
        {"name": '"nightly"', "cron": '"0 6 * * *"', "timezone": '"Europe/Berlin"'},
    ),
    (
        "UTC is the default timezone",
        {"schedules": [ExistingSchedule(rrule="FREQ=DAILY", timezone="UTC")]},
        {"name": '"nightly"', "rrule": '"FREQ=DAILY"'},
    ),
    (
        "interval in its largest whole unit",
        {"schedules": [ExistingSchedule(interval=5400)]},
        {"name": '"nightly"', "interval": "timedelta(minutes=90)"},
    ),
    ("paused", {"paused": True}, {"name": '"nightly"', "active": "False"}),
    (
        "tags, version, parameters",
        {"tags": ["a", "b"], "version": "7", "parameters": {"days": 3, "dry": True}},
        {
            "name": '"nightly"',
            "tags": '["a", "b"]',
            "version": '"7"',
            "parameters": '{"days": 3, "dry": True}',
        },
    ),
    (
        "the environment's ECS pool maps back to typed infra and the image",
        {"work_pool": "ecs-prod", "job_variables": {"cpu": 512, "memory": 1024, "image": IMAGE}},
        {"name": '"nightly"', "infra": "EcsTask(cpu=512, memory=1024)", "image": f'"{IMAGE}"'},
    ),
    (
        "the package's default infra with no fields is left out",
        {"work_pool": "ecs-prod", "job_variables": {"image": IMAGE}},
        {"name": '"nightly"', "image": f'"{IMAGE}"'},
    ),
    (
        "a value the typed field would change stays raw",
        {"work_pool": "ecs-prod", "job_variables": {"cpu": "1024", "memory": 2048, "vpc_id": "v"}},
        {
            "name": '"nightly"',
            "infra": 'EcsTask(memory=2048, vpc_id="v")',
            "job_variables": '{"cpu": "1024"}',
        },
    ),
    (
        "a Fargate size the type refuses stays raw",
        {"work_pool": "ecs-prod", "job_variables": {"cpu": 256, "memory": 8192}},
        {"name": '"nightly"', "job_variables": '{"cpu": 256, "memory": 8192}'},
    ),
    (
        "an untagged image stays raw (flowfleet would add a tag)",
        {"work_pool": "ecs-prod", "job_variables": {"image": "registry.example/acme"}},
        {"name": '"nightly"', "job_variables": '{"image": "registry.example/acme"}'},
    ),
    (
        "the process pool is the worker type",
        {"work_pool": "process-prod", "job_variables": {"working_dir": "/srv"}},
        {"name": '"nightly"', "infra": 'Worker(working_dir="/srv")'},
    ),
    (
        "the docker pool is the worker's docker kind",
        {"work_pool": "docker-prod", "job_variables": {"image": IMAGE}},
        {"name": '"nightly"', "infra": 'Worker(kind="docker")', "image": f'"{IMAGE}"'},
    ),
    (
        "a pool the environment does not name, typed by the server",
        {"work_pool": "gpu", "pool_type": "kubernetes", "job_variables": {"cpu_limit": "2"}},
        {"name": '"nightly"', "infra": 'KubernetesJob(cpu_limit="2")', "work_pool": '"gpu"'},
    ),
    (
        "a pool of unknown type is only an override",
        {"work_pool": "old", "job_variables": {"x": 1}},
        {"name": '"nightly"', "work_pool": '"old"', "job_variables": '{"x": 1}'},
    ),
    (
        "a concurrency limit, with prefect.yaml's default strategy",
        {"concurrency_limit": {"limit": 2, "collision_strategy": "ENQUEUE"}},
        {"name": '"nightly"', "concurrency_limit": "2"},
    ),
    (
        "several schedules, each in its own timezone",
        {
            "schedules": [
                ExistingSchedule(cron="0 6 * * *", timezone="Europe/Berlin"),
                ExistingSchedule(interval=60),
                ExistingSchedule(rrule="FREQ=DAILY", timezone="UTC"),
            ]
        },
        {
            "name": '"nightly"',
            "schedules": '[Cron("0 6 * * *", timezone="Europe/Berlin"), '
            'Interval(timedelta(minutes=1)), RRule("FREQ=DAILY")]',
        },
    ),
    (
        "one schedule with its own fields is listed",
        {
            "schedules": [
                ExistingSchedule(
                    cron="0 6 * * 1",
                    active=False,
                    parameters={"a": 1},
                    slug="mondays",
                    day_or=False,
                )
            ]
        },
        {
            "name": '"nightly"',
            "schedules": '[Cron("0 6 * * 1", slug="mondays", active=False, '
            'parameters={"a": 1}, day_or=False)]',
        },
    ),
    (
        "a prefect.yaml anchor, naive, in the schedule's timezone",
        {
            "schedules": [
                ExistingSchedule(
                    interval=3600, timezone="Europe/Paris", anchor_date="2026-01-05 03:30:00"
                )
            ]
        },
        {
            "name": '"nightly"',
            "schedules": '[Interval(timedelta(hours=1), timezone="Europe/Paris", '
            "anchor_date=datetime(2026, 1, 5, 3, 30))]",
        },
    ),
    (
        "a UTC anchor on a UTC schedule names its timezone",
        {"schedules": [ExistingSchedule(interval=60, anchor_date="2026-01-05T00:00:00Z")]},
        {
            "name": '"nightly"',
            "schedules": '[Interval(timedelta(minutes=1), timezone="UTC", '
            "anchor_date=datetime(2026, 1, 5))]",
        },
    ),
    (
        "a collision strategy and grace period are concurrency options",
        {
            "concurrency_limit": {
                "limit": 1,
                "collision_strategy": "CANCEL_NEW",
                "grace_period_seconds": 300,
            }
        },
        {
            "name": '"nightly"',
            "concurrency_limit": "1",
            "concurrency_options": '{"collision_strategy": "CANCEL_NEW", '
            '"grace_period_seconds": 300}',
        },
    ),
    (
        "a work queue is kept",
        {"work_queue": "critical"},
        {"name": '"nightly"', "work_queue": '"critical"'},
    ),
    (
        "{{ ctx }} is filled by the worker per run and kept",
        {"job_variables": {"name": "run-{{ ctx.flow_run.id }}"}},
        {"name": '"nightly"', "job_variables": '{"name": "run-{{ ctx.flow_run.id }}"}'},
    ),
]


@pytest.mark.parametrize(("fields", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_mapping(fields, expected):
    result = mapped(**fields)
    assert arguments(result) == expected
    assert result.problems == []


PROBLEMS = [
    (
        "max_scheduled_runs: flowfleet refuses it, the schedule is kept",
        {"schedules": [ExistingSchedule(cron="0 6 * * *", max_scheduled_runs=5)]},
        "schedules",
        "sets max_scheduled_runs",
    ),
    (
        "an anchor with an offset in another timezone",
        {
            "schedules": [
                ExistingSchedule(
                    interval=60, timezone="Europe/Berlin", anchor_date="2026-01-05T00:00:00+01:00"
                )
            ]
        },
        "schedules",
        "anchor_date 2026-01-05T00:00:00+01:00",
    ),
    (
        "an environment variable template",
        {"parameters": {"region": "{{ $REGION }}", "days": 1}},
        "parameters.region",
        "environment variable REGION",
    ),
    (
        "a Prefect variable",
        {"tags": ["{{ prefect.variables.team }}"]},
        "tags[0]",
        "Prefect variable 'team'",
    ),
    (
        "a block",
        {"job_variables": {"env": {"KEY": "{{ prefect.blocks.secret.api-key }}"}}},
        "job_variables.env.KEY",
        "Prefect block 'secret.api-key'",
    ),
    (
        "an automation that does more than run the deployment",
        {"triggers": ["'page-and-run': it does more than run this deployment"]},
        "triggers",
        "'page-and-run'",
    ),
    (
        "a trigger Prefect refuses",
        {"triggers": [{"type": "compound", "require": 3, "triggers": [{"expect": ["a"]}]}]},
        "triggers[0]",
        "is not a trigger Prefect accepts",
    ),
    (
        "a grace period DeploymentConfig refuses",
        {"concurrency_limit": {"limit": 1, "grace_period_seconds": 5}},
        "concurrency_limit",
        "grace_period_seconds",
    ),
    ("an unknown key", {"unsupported": {"sla": [{}]}}, "sla", "no flowfleet equivalent"),
    (
        "a pool type no infra type deploys to",
        {"work_pool": "edge", "pool_type": "modal"},
        "work_pool",
        "type 'modal'",
    ),
]


@pytest.mark.parametrize(
    ("fields", "field", "words"), [p[1:] for p in PROBLEMS], ids=[p[0] for p in PROBLEMS]
)
def test_what_cannot_be_expressed_is_a_problem_and_a_comment(fields, field, words):
    result = mapped(**fields)
    [problem] = result.problems
    if field == "schedules":  # the schedule itself is still written
        assert dict(result.config.arguments).keys() & {"cron", "interval", "schedules"}
    assert problem.field == field
    assert words in problem.message
    assert problem.flow == "nightly" and problem.package == "acme-flows"
    assert any(words in line for line in result.comments)


def test_templated_values_are_left_out_never_guessed():
    result = mapped(parameters={"region": "{{ $REGION }}", "days": 1}, version="{{ $V }}")
    assert arguments(result) == {"name": '"nightly"', "parameters": '{"days": 1}'}
    assert [p.field for p in result.problems] == ["parameters.region", "version"]


def test_an_image_from_a_build_step_is_dropped_without_a_problem():
    result = mapped(work_pool="ecs-prod", job_variables={"image": "{{ build-image.image }}"})
    assert arguments(result) == {"name": '"nightly"'}
    assert result.problems == []
    assert result.notes == [
        "job_variables.image: '{{ build-image.image }}' dropped: flowfleet builds the image"
    ]


DESCRIPTIONS = [
    ("none, no docstring", None, None, None),
    ("the docstring's one line: flowfleet's default", None, "Load orders.", None),
    ("Prefect's default is the whole docstring", None, "Load.\n\nMore.", "Load.\n\nMore."),
    ("its own description", "Nightly.", "Load.", "Nightly."),
    ("equal to the docstring's first line", "Load.", "Load.", None),
]


@pytest.mark.parametrize(
    ("description", "docstring", "written"),
    [d[1:] for d in DESCRIPTIONS],
    ids=[d[0] for d in DESCRIPTIONS],
)
def test_description(description, docstring, written):
    result = mapped(description=description, docstring=docstring)
    assert dict(result.config.arguments).get("description") == written


def test_without_an_environment_a_pool_is_an_override():
    result = mapped(environment=None, work_pool="ecs-prod", job_variables={"cpu": 512})
    assert arguments(result) == {
        "name": '"nightly"',
        "work_pool": '"ecs-prod"',
        "job_variables": '{"cpu": 512}',
    }


def test_the_written_arguments_make_a_valid_config():
    result = mapped(
        schedules=[ExistingSchedule(interval=3600, timezone="Europe/Paris")],
        paused=True,
        work_pool="ecs-prod",
        job_variables={"cpu": 1024, "memory": 2048, "launch_type": "FARGATE", "image": IMAGE},
        concurrency_limit=3,
    )
    namespace = {"DeploymentConfig": DeploymentConfig, "EcsTask": EcsTask, "timedelta": timedelta}
    config = eval(render(result.config), namespace)  # the source, as Python reads it
    assert config.interval == timedelta(hours=1) and config.timezone == "Europe/Paris"
    assert config.active is False and config.concurrency_limit == 3
    assert config.infra == EcsTask(cpu=1024, memory=2048, launch_type="FARGATE")
    assert config.image == IMAGE


def test_listed_schedules_and_concurrency_options_make_a_valid_config():
    result = mapped(
        schedules=[
            ExistingSchedule(cron="0 9 * * 1-5", timezone="Europe/London", slug="weekdays"),
            ExistingSchedule(
                interval=21600, anchor_date="2026-01-05T03:30:00", parameters={"r": "apac"}
            ),
            ExistingSchedule(rrule="FREQ=WEEKLY;BYDAY=SA", active=False, max_scheduled_runs=3),
        ],
        concurrency_limit={"limit": 2, "collision_strategy": "CANCEL_NEW"},
    )
    [problem] = result.problems
    assert "rrule 'FREQ=WEEKLY;BYDAY=SA' in UTC sets max_scheduled_runs" in problem.message
    namespace = {
        "DeploymentConfig": DeploymentConfig,
        "Cron": Cron,
        "Interval": Interval,
        "RRule": RRule,
        "datetime": datetime,
        "timedelta": timedelta,
    }
    config = eval(render(result.config), namespace)
    assert config.schedules == [
        Cron("0 9 * * 1-5", timezone="Europe/London", slug="weekdays"),
        Interval(
            timedelta(hours=6),
            anchor_date=datetime(2026, 1, 5, 3, 30),
            timezone="UTC",
            parameters={"r": "apac"},
        ),
        RRule("FREQ=WEEKLY;BYDAY=SA", active=False),
    ]
    assert config.cron is None and config.timezone == "UTC"
    assert config.concurrency_options == ConcurrencyOptions(collision_strategy="CANCEL_NEW")
    assert result.config.imports() >= {("flowfleet", n) for n in ("Cron", "Interval", "RRule")}
    assert ("datetime", "datetime") in result.config.imports()


AFTER_AUTOMATION = {
    "name": "report after load",
    "description": "",
    "enabled": True,
    "trigger": {
        "id": "t1",
        "type": "event",
        "match": {"prefect.resource.id": "prefect.flow-run.*"},
        "match_related": {
            "prefect.resource.role": "deployment",
            "prefect.resource.id": "prefect.deployment.up-1",
        },
        "after": [],
        "expect": ["prefect.flow-run.Completed"],
        "for_each": ["prefect.resource.id"],
        "posture": "Reactive",
        "threshold": 1,
        "within": 0.0,
    },
    "actions": [
        {
            "type": "run-deployment",
            "source": "selected",
            "deployment_id": "d1",
            "parameters": {"run": "{{ event.resource.id }}"},
            "job_variables": None,
        }
    ],
}


def test_prefect_yaml_triggers_become_prefect_trigger_models():
    yaml_triggers = [
        {
            "enabled": True,
            "match": {"prefect.resource.id": "my.external.resource"},
            "expect": ["external.resource.pinged"],
            "parameters": {"param_1": "{{ event }}"},
        },
        {"type": "compound", "require": "all", "triggers": [{"expect": ["a"]}, {"expect": ["b"]}]},
    ]
    result = mapped(triggers=yaml_triggers)
    assert result.problems == []
    assert arguments(result)["triggers"] == (
        "[\n"
        "    DeploymentEventTrigger(\n"
        "        enabled=True,\n"
        '        match={"prefect.resource.id": "my.external.resource"},\n'
        '        expect=["external.resource.pinged"],\n'
        '        parameters={"param_1": "{{ event }}"},\n'
        "    ),\n"
        '    DeploymentCompoundTrigger(require="all", '
        'triggers=[{"expect": ["a"]}, {"expect": ["b"]}]),\n'
        "]"
    )
    assert ("prefect.events", "DeploymentCompoundTrigger") in result.config.imports()


def test_a_server_automation_that_runs_after_a_known_deployment_becomes_after():
    from flowfleet.importer.server import _triggers_by_deployment

    by_deployment = _triggers_by_deployment([AFTER_AUTOMATION], {"up-1": "load/nightly"})
    result = mapped(triggers=by_deployment["d1"])
    assert result.problems == []
    assert arguments(result)["triggers"] == (
        '[after("load/nightly", name="report after load", '
        'parameters={"run": "{{ event.resource.id }}"})]'
    )


def test_a_server_automation_on_an_unknown_upstream_is_a_prefect_trigger_that_validates():
    from flowfleet.importer.server import _triggers_by_deployment

    [entry] = _triggers_by_deployment([AFTER_AUTOMATION])["d1"]
    result = mapped(triggers=[entry])
    assert result.problems == []
    written = arguments(result)["triggers"]
    assert written.startswith("[\n    DeploymentEventTrigger(") and '"t1"' not in written
    config = DeploymentConfig(triggers=[entry])  # what the written call builds
    assert config.triggers[0].name == "report after load"
