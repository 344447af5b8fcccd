"""Schedules as a typed list, concurrency options, enforce_parameter_schema and user labels:
config checks, the spec they resolve to and the schedule diff, all without a server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fleet_sandbox import Sandbox, flow_module
from flowfleet import Cron, DeploymentConfig, Interval, RRule
from flowfleet.observed import ObservedDeployment
from flowfleet.plan import diff

PKG = "acme_flows"


def resolved(sandbox: Sandbox, config: str, env: str = "prod"):
    sandbox.package(PKG, {"report": flow_module(PKG, config)})
    return sandbox.resolve(env)


BAD = [
    (
        "shorthand and list",
        'cron="0 9 * * *", schedules=[Cron("0 1 * * *")]',
        ["field 'cron/schedules'", "at most one of cron, interval, rrule, or a `schedules` list"],
    ),
    (
        "two schedules, one slug",
        'schedules=[Cron("0 9 * * *", slug="am"), RRule("FREQ=DAILY", slug="am")]',
        ["field 'schedules[1].slug'", "schedules[0] and schedules[1] both have slug 'am'"],
    ),
    (
        "naive anchor, no timezone",
        "schedules=[Interval(timedelta(hours=1), anchor_date=datetime(2026, 1, 5, 9))]",
        ["field 'schedules[0].anchor_date'", "has no timezone", "set timezone= on the Interval"],
    ),
    (
        "unknown field",
        'schedules=[Cron("0 9 * * *", paramters={"a": 1})]',
        ["acme-flows", "Cron(...) has no keyword 'paramters'", "did you mean 'parameters'?"],
    ),
    (
        "unknown collision strategy",
        'concurrency_limit=1, concurrency_options={"collision_strategy": "DROP"}',
        [
            "acme-flows field 'concurrency_options.collision_strategy'",
            "Input should be 'ENQUEUE' or 'CANCEL_NEW'",
        ],
    ),
    (
        "invalid cron in the list",
        'schedules=[Interval(60), Cron("61 * * * *")]',
        ["field 'schedules[1]'", "invalid cron '61 * * * *'"],
    ),
    (
        "unknown timezone of one schedule",
        'schedules=[Cron("0 9 * * *", timezone="Mars/Base")]',
        ["field 'schedules[0].timezone'", "unknown timezone 'Mars/Base'"],
    ),
    (
        "max_scheduled_runs, which the server drops",
        'schedules=[Cron("0 9 * * *", max_scheduled_runs=5)]',
        ["field 'schedules[0].max_scheduled_runs'", "dropped by the Prefect server"],
    ),
    (
        "a label in flowfleet's namespace",
        'labels={"flowfleet.env": "prod"}',
        ["field 'labels.flowfleet.env'", "reserved prefix"],
    ),
]


@pytest.mark.parametrize(("config", "expect"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_schedule_input_is_one_line(sandbox: Sandbox, config: str, expect: list[str]) -> None:
    result = resolved(sandbox, config)
    lines = [str(p) for p in result.problems]
    assert not result.deployments, "nothing is deployed from a bad config"
    assert all("\n" not in line and "Traceback" not in line for line in lines)
    matching = [line for line in lines if all(part in line for part in expect)]
    assert len(matching) == 1, "\n".join(lines)


SPECS = [
    (
        "cron shorthand: exactly the compact form it always had",
        'cron="0 9 * * *", timezone="Europe/London"',
        [{"cron": "0 9 * * *", "timezone": "Europe/London"}],
    ),
    ("interval shorthand", "interval=3600", [{"interval": 3600.0, "timezone": "UTC"}]),
    (
        "list: per-schedule fields, timezone inherited or its own",
        'timezone="Europe/Berlin", schedules=['
        'Cron("0 9 * * 1-5", day_or=False, slug="weekdays"),'
        "Interval(timedelta(minutes=30), anchor_date=datetime(2026, 1, 5, 9), "
        'timezone="Europe/London", parameters={"audience": "ops"}),'
        'RRule("FREQ=WEEKLY;BYDAY=MO", active=False)]',
        [
            {
                "cron": "0 9 * * 1-5",
                "timezone": "Europe/Berlin",
                "day_or": False,
                "slug": "weekdays",
            },
            {
                "interval": 1800.0,
                "timezone": "Europe/London",
                # 09:00 London in January is 09:00 UTC; kept as an instant in UTC.
                "anchor_date": "2026-01-05T09:00:00+00:00",
                "parameters": {"audience": "ops"},
            },
            {"rrule": "FREQ=WEEKLY;BYDAY=MO", "timezone": "Europe/Berlin", "active": False},
        ],
    ),
    (
        "an environment override replaces the list",
        'schedules=[Cron("0 9 * * *"), Interval(60)], '
        'overrides={"prod": {"schedules": [{"rrule": "FREQ=DAILY", "slug": "daily"}]}}',
        [{"rrule": "FREQ=DAILY", "timezone": "UTC", "slug": "daily"}],
    ),
    (
        "an environment override with the shorthand replaces the list too",
        'schedules=[Cron("0 9 * * *"), Interval(60)], overrides={"prod": {"cron": "0 3 * * *"}}',
        [{"cron": "0 3 * * *", "timezone": "UTC"}],
    ),
    ("an empty list: no schedules", "schedules=[]", []),
]


@pytest.mark.parametrize(("config", "expect"), [c[1:] for c in SPECS], ids=[c[0] for c in SPECS])
def test_schedules_resolve_to_the_spec(sandbox: Sandbox, config: str, expect: list) -> None:
    result = resolved(sandbox, config)
    assert not result.problems, [str(p) for p in result.problems]
    [deployment] = result.deployments
    assert [s.compact() for s in deployment.schedules] == expect
    assert deployment.listing()["schedules"] == expect


def test_new_fields_resolve_and_ownership_labels_stay_separate(sandbox: Sandbox) -> None:
    result = resolved(
        sandbox,
        'concurrency_limit=2, concurrency_options={"collision_strategy": "CANCEL_NEW", '
        '"grace_period_seconds": 120}, enforce_parameter_schema=False, labels={"team": "sales"}',
    )
    [deployment] = result.deployments
    spec = deployment.spec()
    assert spec.concurrency_options == {
        "collision_strategy": "CANCEL_NEW",
        "grace_period_seconds": 120,
    }
    assert spec.enforce_parameter_schema is False
    assert spec.labels == {"team": "sales"}
    assert "team" not in deployment.labels and deployment.labels["flowfleet.managed"] == "true"


def test_the_one_schedule_shorthand_and_the_list_give_one_hash() -> None:
    """`cron=` is the one-schedule case of `schedules=`: the same spec, the same hash."""
    from flowfleet.spec import DeploymentSpec, Schedule

    short = DeploymentSpec(schedules=[Schedule(cron="0 9 * * *", timezone="UTC")])
    assert short.as_dict()["schedules"] == [{"cron": "0 9 * * *", "timezone": "UTC"}]
    assert "labels" not in short.as_dict() and "concurrency_options" not in short.as_dict()


def test_typed_constructors_take_the_value_positionally() -> None:
    assert Cron("0 9 * * *").cron == "0 9 * * *"
    assert Interval(timedelta(hours=1)).interval == timedelta(hours=1)
    assert RRule("FREQ=DAILY", slug="d").slug == "d"
    config = DeploymentConfig(schedules=[{"cron": "0 1 * * *"}, {"interval": 60}])
    assert [type(s) for s in config.schedules or []] == [Cron, Interval]


# --- the diff: schedules as a set keyed by slug, else by content ---------------------

CRON = {"cron": "0 9 * * 1-5", "timezone": "Europe/London", "slug": "weekdays"}
HOURLY = {"interval": 3600.0, "timezone": "UTC", "parameters": {"audience": "ops"}}
DAILY = {"rrule": "FREQ=DAILY", "timezone": "UTC", "active": False}


def server_row(schedule: dict[str, Any]) -> dict[str, Any]:
    """A schedule as the server's JSON holds it: every per-schedule field present."""
    inner = {k: schedule[k] for k in ("cron", "interval", "rrule", "timezone") if k in schedule}
    if "interval" in inner:
        inner["anchor_date"] = schedule.get("anchor_date", "2020-01-01T00:00:00Z")
    if "cron" in inner:
        inner["day_or"] = schedule.get("day_or", True)
    return {
        "schedule": inner,
        "active": schedule.get("active", True),
        "parameters": schedule.get("parameters", {}),
        "slug": schedule.get("slug"),
        "max_scheduled_runs": schedule.get("max_scheduled_runs"),
    }


def observed(schedules: list[dict[str, Any]], **extra: Any) -> ObservedDeployment:
    data = {
        "id": "d1",
        "flow_id": "f1",
        "name": "default",
        "entrypoint": "m:f",
        "work_pool_name": "pool",
        "schedules": [server_row(s) for s in schedules],
        "enforce_parameter_schema": True,
        "labels": {"prefect.flow.id": "f1"},
        **extra,
    }
    return ObservedDeployment.from_json(data, "flow")


def desired(schedules: list[dict[str, Any]], **extra: Any):
    from deployments import minimal_deployment
    from flowfleet.spec import Schedule

    return minimal_deployment(schedules=[Schedule(**s) for s in schedules], **extra)


DIFFS = [
    ("same set, other order", [CRON, HOURLY, DAILY], [DAILY, CRON, HOURLY], None),
    (
        "one slugged schedule edited: only it shows, from and to",
        [CRON, HOURLY, DAILY],
        [{**CRON, "cron": "0 8 * * 1-5"}, HOURLY, DAILY],
        ([CRON], [{**CRON, "cron": "0 8 * * 1-5"}]),
    ),
    (
        "an unslugged schedule's parameters edited: the old one out, the new one in",
        [CRON, HOURLY],
        [CRON, {**HOURLY, "parameters": {"audience": "all"}}],
        ([HOURLY], [{**HOURLY, "parameters": {"audience": "all"}}]),
    ),
    (
        "a schedule deactivated",
        [CRON, {**DAILY, "active": True}],
        [CRON, DAILY],
        ([{k: v for k, v in DAILY.items() if k != "active"}], [DAILY]),
    ),
    ("a schedule added", [CRON], [CRON, HOURLY], ([], [HOURLY])),
    ("a schedule removed", [CRON, HOURLY], [CRON], ([HOURLY], [])),
    (
        "an interval anchor moved",
        [HOURLY],
        [{**HOURLY, "anchor_date": "2026-01-05T09:00:00+00:00"}],
        ([HOURLY], [{**HOURLY, "anchor_date": "2026-01-05T09:00:00+00:00"}]),
    ),
]


@pytest.mark.parametrize(
    ("have", "want", "expect"), [c[1:] for c in DIFFS], ids=[c[0] for c in DIFFS]
)
def test_schedule_diff_names_only_the_schedules_that_changed(have, want, expect) -> None:
    changes = diff(desired(want), observed(have))
    if expect is None:
        assert "schedules" not in changes
    else:
        assert changes["schedules"].pair() == {"from": expect[0], "to": expect[1]}


def test_day_or_default_and_default_anchor_read_back_as_unset() -> None:
    """The server spells out `day_or: true` and the 2020-01-01 anchor; neither is a change."""
    cron = {"cron": "0 9 * * *", "timezone": "Europe/London", "day_or": True}
    hourly = {"interval": 3600.0, "timezone": "Europe/London"}
    local_2020 = datetime(2020, 1, 1, tzinfo=UTC).isoformat()  # London is UTC in January
    have = observed([cron, {**hourly, "anchor_date": local_2020}])
    assert diff(desired([cron, hourly]), have) == {}


FIELDS = [
    ("enforce_parameter_schema unset is not compared", {}, {}, set()),
    (
        "enforce_parameter_schema set is compared",
        {"enforce_parameter_schema": False},
        {},
        {"enforce_parameter_schema"},
    ),
    (
        "concurrency options added",
        {"concurrency_options": {"collision_strategy": "CANCEL_NEW"}},
        {},
        {"concurrency_options"},
    ),
    (
        "concurrency options as the server holds them",
        {"concurrency_options": {"collision_strategy": "ENQUEUE"}},
        {"concurrency_options": {"collision_strategy": "ENQUEUE", "grace_period_seconds": None}},
        set(),
    ),
    ("a user label added", {"user_labels": {"team": "sales"}}, {}, {"labels"}),
    (
        "a user label removed",
        {},
        {"labels": {"prefect.flow.id": "f1", "team": "sales"}},
        {"labels"},
    ),
]


@pytest.mark.parametrize(
    ("want", "have", "changed"), [c[1:] for c in FIELDS], ids=[c[0] for c in FIELDS]
)
def test_typed_fields_are_compared(want, have, changed) -> None:
    assert set(diff(desired([], **want), observed([], **have))) == changed


def test_the_guides_examples_build_as_written() -> None:
    """docs/guide.md's two examples, executed: they stay true to the code."""
    from conftest import ROOT

    guide = (ROOT / "docs" / "guide.md").read_text()
    schedules_section = guide.split("### Several schedules", 1)[1]
    options_section = guide.split("### Concurrency options, parameter schema and labels", 1)[1]
    built = []
    for section in (schedules_section, options_section):
        code = section.split("```python\n", 1)[1].split("```", 1)[0]
        namespace: dict[str, Any] = {}
        exec(
            "from flowfleet import *\n"
            + code.replace("DeploymentConfig(", "_ = DeploymentConfig(", 1),
            namespace,
        )
        built.append(namespace["_"])
    several, options = built
    assert [type(s).__name__ for s in several.schedules] == ["Cron", "Interval", "RRule"]
    assert several.overrides == {"dev": {"schedules": []}}
    assert options.concurrency_options.collision_strategy == "CANCEL_NEW"
    assert options.labels == {"team": "sales", "cost-centre": "42"}


def test_the_plans_details_name_the_schedule_that_changed() -> None:
    from flowfleet.plan import Change, Plan
    from flowfleet.render import plan_markdown

    have = [CRON, HOURLY, DAILY]
    want = [{**CRON, "cron": "0 8 * * 1-5"}, HOURLY, {**DAILY, "active": True}]
    changes = diff(desired(want), observed(have))
    plan = Plan(environment="prod", project="p", api_url="http://x")
    plan.update.append(Change(full_name="flow/default", action="update", changes=changes))
    text = plan_markdown(plan)
    assert (
        "schedules: weekdays: 0 9 * * 1-5 (Europe/London), FREQ=DAILY (UTC, inactive) → "
        "weekdays: 0 8 * * 1-5 (Europe/London), FREQ=DAILY (UTC)"
    ) in text
    assert "every 3600s" not in text, "the unchanged schedule is not listed"
