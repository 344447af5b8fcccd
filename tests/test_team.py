"""Owners and alerts in a package's pyproject.toml, and version_info: pure, no server."""

from __future__ import annotations

import inspect
import uuid

import pytest

from fleet_sandbox import Sandbox, flow_module
from flowfleet.alerts import PackageAlert, alert_automations, package_alerts
from flowfleet.problems import FlowfleetError
from flowfleet.team import RUN_STATES, Alerts, Team, team_of, teams

KNOWN = ["local", "dev", "prod"]
SALES = {
    "owners": ["team-sales", "data-platform"],
    "alerts": {
        "states": ["Failed", "Crashed"],
        "notify": "slack-webhook/sales-alerts",
        "overrides": {
            "prod": {"notify": "slack-webhook/sales-oncall", "states": ["Failed", "TimedOut"]},
            "local": {"enabled": False},
        },
    },
}


def problems_of(options: dict, env: str = "prod") -> list[str]:
    return [str(p) for p in team_of("sales-flows", options, env, KNOWN, "flows/sales/x.toml")[1]]


def test_owners_become_labels_and_overrides_apply_per_environment() -> None:
    dev, problems = team_of("sales-flows", SALES, "dev", KNOWN)
    assert problems == []
    assert dev.owner_labels() == {"owner.team-sales": "true", "owner.data-platform": "true"}
    assert dev.alerts == Alerts(states=("Failed", "Crashed"), notify="slack-webhook/sales-alerts")
    prod = team_of("sales-flows", SALES, "prod", KNOWN)[0].alerts
    assert prod == Alerts(states=("Failed", "TimedOut"), notify="slack-webhook/sales-oncall")
    local = team_of("sales-flows", SALES, "local", KNOWN)[0].alerts
    assert local is not None and not local.active


def test_a_package_without_the_table_has_no_alerts_and_no_owner_labels() -> None:
    team, problems = team_of("sales-flows", {"image": "x"}, "prod", KNOWN)
    assert (team, problems) == (Team("sales-flows"), [])
    assert team.owner_labels() == {}


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (
            {"alerts": {"states": ["Failure"], "notify": "slack-webhook/x"}},
            "sales-flows field 'tool.flowfleet.alerts.states': unknown run state 'Failure' "
            "[flows/sales/x.toml] (fix: did you mean 'Failed'?)",
        ),
        (
            {"alerts": {"notify": "Slack Webhook/sales"}},
            "sales-flows field 'tool.flowfleet.alerts.notify': notify 'Slack Webhook/sales' is "
            "not a block reference [flows/sales/x.toml] (fix: write notify = "
            '"<block-type-slug>/<block-name>", e.g. "slack-webhook/sales-alerts")',
        ),
        (
            {"alerts": {"notify": "sales-alerts"}},
            "field 'tool.flowfleet.alerts.notify': notify 'sales-alerts' is not a block reference",
        ),
        (
            {"owners": "team-sales"},
            "sales-flows field 'tool.flowfleet.owners': owners must be a list of team names",
        ),
        (
            {"owners": ["Team Sales"]},
            "field 'tool.flowfleet.owners': owner 'Team Sales' is not a label-safe name",
        ),
        (
            {"owners": ["team-sales", "team-sales"]},
            "owner 'team-sales' is listed twice",
        ),
        (
            {"alerts": {"notfiy": "slack-webhook/x"}},
            "field 'tool.flowfleet.alerts.notfiy': unknown key 'notfiy' [flows/sales/x.toml] "
            "(fix: did you mean 'notify'?)",
        ),
        (
            {"alerts": {"states": ["Failed"]}},
            "field 'tool.flowfleet.alerts.notify': alerts are enabled but name no notification",
        ),
        (
            {"alerts": {"states": [], "notify": "slack-webhook/x"}},
            "field 'tool.flowfleet.alerts.states': states must be a non-empty list",
        ),
        (
            {"alerts": {"notify": "slack-webhook/x", "overrides": {"prd": {"enabled": False}}}},
            "field 'tool.flowfleet.alerts.overrides.prd': unknown environment 'prd' "
            "[flows/sales/x.toml] (fix: did you mean 'prod'?)",
        ),
        (
            {"alerts": {"notify": "slack-webhook/x", "overrides": {"dev": {"states": ["Ok"]}}}},
            "field 'tool.flowfleet.alerts.overrides.dev.states': unknown run state 'Ok'",
        ),
        (
            {"alerts": "slack-webhook/x"},
            "field 'tool.flowfleet.alerts': alerts must be a table",
        ),
    ],
)
def test_bad_tables_are_one_line_each_naming_package_field_and_fix(
    options: dict, expected: str
) -> None:
    [line] = problems_of(options)
    assert expected in line
    assert "\n" not in line and "fix:" in line


def test_an_override_for_another_environment_is_checked_too() -> None:
    options = {"alerts": {"notify": "slack-webhook/x", "overrides": {"dev": {"notify": "x y"}}}}
    assert len(problems_of(options, env="prod")) == 1


def test_run_states_are_the_installed_prefects() -> None:
    import prefect.states

    constructors = {
        name
        for name, value in vars(prefect.states).items()
        if inspect.isfunction(value) and name[0].isupper() and value.__module__ == "prefect.states"
    }
    assert set(RUN_STATES) == constructors | {"TimedOut"}  # the flow engine's Failed(name=...)


def write_member(sandbox: Sandbox, pyproject_extra: str) -> None:
    """Make `acme_flows` a workspace member whose pyproject says `pyproject_extra`."""
    (sandbox.root / "pyproject.toml").write_text(
        '[tool.uv.workspace]\nmembers = ["flows/*"]\n\n[tool.flowfleet]\nproject = "sandbox"\n'
    )
    folder = sandbox.root / "flows" / "acme"
    folder.mkdir(parents=True)
    (folder / "pyproject.toml").write_text(
        f'[project]\nname = "acme-flows"\n\n[tool.flowfleet]\n{pyproject_extra}\n'
    )


ACME_TEAM = """\
owners = ["team-acme"]
[tool.flowfleet.alerts]
notify = "custom-webhook/acme-alerts"
[tool.flowfleet.alerts.overrides.local]
enabled = false
"""


def acme(sandbox: Sandbox, pyproject_extra: str, config: str = 'cron="0 9 * * *"') -> None:
    write_member(sandbox, pyproject_extra)
    modules = {
        "report": flow_module("acme_flows", config),
        "other": flow_module("acme_flows", 'labels={"tier": "gold"}', flow_name="acme-other"),
    }
    sandbox.package("acme_flows", modules)


def test_every_deployment_of_the_package_carries_its_owners(sandbox: Sandbox) -> None:
    acme(sandbox, ACME_TEAM)
    resolution = sandbox.resolve("prod")
    assert resolution.problems == []
    labels = {d.full_name: d.user_labels for d in resolution.deployments}
    assert labels == {
        "acme-other/default": {"tier": "gold", "owner.team-acme": "true"},
        "acme-report/default": {"owner.team-acme": "true"},
    }
    other = next(d for d in resolution.deployments if d.flow == "acme-other")
    assert other.spec().labels == {"tier": "gold", "owner.team-acme": "true"}  # compared
    assert other.listing()["user_labels"] == {"tier": "gold", "owner.team-acme": "true"}


def test_a_bad_alerts_table_is_a_validate_problem(sandbox: Sandbox) -> None:
    acme(sandbox, 'owners = ["team-acme"]\n[tool.flowfleet.alerts]\nstates = ["Crash"]\n')
    problems = sandbox.problems("prod")
    assert problems == [
        "acme-flows field 'tool.flowfleet.alerts.states': unknown run state 'Crash' "
        "[flows/acme/pyproject.toml] (fix: did you mean 'Crashed'?)"
    ]


def test_version_info_is_refused_with_the_reason(sandbox: Sandbox) -> None:
    sandbox.package(
        "acme_flows",
        {"report": flow_module("acme_flows", 'version_info={"type": "git", "version": "abc"}')},
    )
    [line] = sandbox.problems("prod")
    assert line.startswith(
        "acme-flows acme-report/default field 'version_info': version_info is dropped by the "
        "Prefect server (3.9.1)"
    )
    assert "(fix: remove it; put the version in `version`" in line


def test_one_alert_per_package_and_environment(sandbox: Sandbox) -> None:
    acme(sandbox, ACME_TEAM)
    found = {env: alerts_of(sandbox, env) for env in ("prod", "local")}
    assert found["local"] == []  # overrides.local: enabled = false
    [alert] = found["prod"]
    assert alert.deployments == ("acme-other/default", "acme-report/default")
    assert (alert.notify, alert.owners, alert.states) == (
        "custom-webhook/acme-alerts",
        ("team-acme",),
        ("Failed", "Crashed"),
    )
    assert alert.name == "alerts: acme-flows (prod)"


def test_the_automation_is_what_the_server_accepts() -> None:
    from prefect.server.events.schemas.automations import AutomationCreate

    team = team_of("sales-flows", SALES, "dev", KNOWN)[0]
    deployments = [_named("sales-etl/default"), _named("sales-etl/weekly")]
    [alert] = package_alerts([team], "dev", deployments)
    block = str(uuid.uuid4())
    [automation] = alert_automations([alert], {"slack-webhook/sales-alerts": block}, "http://x")
    assert automation.references() == {"sales-etl/default", "sales-etl/weekly"}
    ids = {"sales-etl/default": str(uuid.uuid4()), "sales-etl/weekly": str(uuid.uuid4())}
    body = automation.body(ids, ["flowfleet.managed"])
    trigger = body["trigger"]
    assert trigger["expect"] == ["prefect.flow-run.Crashed", "prefect.flow-run.Failed"]
    assert trigger["match_related"] == {
        "prefect.resource.role": "deployment",
        "prefect.resource.id": [f"prefect.deployment.{ids[n]}" for n in sorted(ids)],
    }
    [action] = body["actions"]
    assert (action["type"], action["block_document_id"]) == ("send-notification", block)
    assert "{{ flow_run.name }}" in action["body"] and "team-sales" in action["body"]
    assert body["name"] == "alerts: sales-flows (dev)"
    AutomationCreate.model_validate(body)  # the server's own schema takes it


def test_a_block_missing_on_the_server_is_one_line_naming_the_fix() -> None:
    team = team_of("sales-flows", SALES, "dev", KNOWN, "flows/sales/pyproject.toml")[0]
    [alert] = package_alerts([team], "dev", [_named("sales-etl/default")])
    with pytest.raises(FlowfleetError) as raised:
        alert_automations([alert], {"slack-webhook/other": "1"}, "http://127.0.0.1:1/api")
    assert str(raised.value) == (
        "sales-flows field 'tool.flowfleet.alerts.notify': no notification block "
        "'slack-webhook/sales-alerts' on the server at http://127.0.0.1:1/api "
        "[flows/sales/pyproject.toml] (fix: create it in the Prefect UI (Blocks) or with "
        "`prefect block create slack-webhook`; flowfleet refers to it and never creates it)"
    )


def _named(full_name: str):
    from deployments import minimal_deployment

    flow, name = full_name.split("/")
    return minimal_deployment(package="sales-flows", flow=flow, name=name, full_name=full_name)


def alerts_of(sandbox: Sandbox, env: str) -> list[PackageAlert]:
    from flowfleet.environments import environment_names

    known = environment_names(sandbox.env_dir)
    found = teams(sandbox.workspace.members, env, known)
    return package_alerts(found, env, sandbox.resolve(env).deployments)


def test_plan_sees_an_unchanged_alert_and_a_changed_state() -> None:
    """Against the automation as the server's own schema stores it (ids added, `expect`
    a set), the same alert is unchanged and one more state is an update of the trigger."""
    from prefect.server.events.schemas.automations import AutomationCreate

    from flowfleet.automation_plan import plan_automations
    from flowfleet.automations import ObservedAutomation, owner_tags

    ids = {"sales-etl/default": str(uuid.uuid4())}
    blocks = {"slack-webhook/sales-alerts": str(uuid.uuid4())}
    team = team_of("sales-flows", SALES, "dev", KNOWN)[0]
    [want] = alert_automations(
        package_alerts([team], "dev", [_named("sales-etl/default")]), blocks, "http://x"
    )
    tags = owner_tags("demo", "dev", "sales-flows", None)
    stored = AutomationCreate.model_validate(want.body(ids, tags)).model_dump(mode="json")
    observed = [ObservedAutomation.from_json({**stored, "id": str(uuid.uuid4())})]

    def plan(settings: dict):
        changed = team_of("sales-flows", settings, "dev", KNOWN)[0]
        alerts = package_alerts([changed], "dev", [_named("sales-etl/default")])
        desired = alert_automations(alerts, blocks, "http://x")
        return plan_automations(desired, observed, ids, project="demo", environment="dev")

    same = plan(SALES)
    assert [c.full_name for c in same.unchanged] == ["alerts: sales-flows (dev)"]
    more = {**SALES, "alerts": {**SALES["alerts"], "states": ["Failed", "Crashed", "Late"]}}
    [update] = plan(more).update
    assert set(update.changes) == {"trigger", "description"}
    assert "prefect.flow-run.Late" in update.changes["trigger"]["to"]["expect"]
