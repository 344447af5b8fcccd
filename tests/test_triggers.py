"""Triggers, server-free: `after()` and Prefect's trigger models, reference and cycle
checks, the automations they become, and how those are planned against a server's list."""

from __future__ import annotations

import textwrap

import pytest

from conftest import run_cli
from disk_project import dedent
from fleet_sandbox import Sandbox
from flowfleet import DeploymentConfig, after
from flowfleet.automation_plan import plan_automations
from flowfleet.automations import DesiredAutomation, ObservedAutomation, bind, from_triggers
from flowfleet.graph import mermaid

HEADER = """\
from prefect import flow
from prefect.events import DeploymentEventTrigger

from flowfleet import DeploymentConfig, after
from {package} import registry
"""


def team(sandbox: Sandbox, package: str, flows: dict[str, str]) -> None:
    """One package; `flows` maps a flow name to its DeploymentConfig arguments."""
    body = HEADER.format(package=package)
    for index, (flow_name, config) in enumerate(flows.items()):
        body += textwrap.dedent(
            f"""

            @registry(DeploymentConfig({config}))
            @flow(name="{flow_name}")
            def f{index}(run: str = "") -> None:
                pass
            """
        )
    sandbox.package(package, {"flows": body})


def test_after_becomes_an_automation_that_runs_the_downstream_on_the_upstreams_state(
    sandbox: Sandbox,
) -> None:
    team(sandbox, "upstream_flows", {"sales-etl": "infra='worker'"})
    team(
        sandbox,
        "downstream_flows",
        {
            "audience": "infra='worker', triggers=[after('sales-etl/default', state='Completed', "
            "parameters={'run': '{{ event.resource.id }}'})]"
        },
    )
    resolution = sandbox.resolve("prod")
    assert resolution.problems == []
    [automation] = from_triggers(resolution.deployments)
    assert automation.name == "audience/default after sales-etl/default Completed"
    assert automation.package == "downstream-flows"
    assert automation.deployment == "audience/default"
    ids = {"sales-etl/default": "up-id", "audience/default": "down-id"}
    trigger = bind(automation.trigger, ids)
    assert trigger["expect"] == ["prefect.flow-run.Completed"]
    assert trigger["match_related"]["prefect.resource.id"] == "prefect.deployment.up-id"
    assert trigger["for_each"] == ["prefect.resource.id"]
    [action] = bind(automation.actions, ids)
    assert action == {
        "type": "run-deployment",
        "source": "selected",
        "deployment_id": "down-id",
        "parameters": {"run": "{{ event.resource.id }}"},
        "job_variables": None,
    }
    [deployment] = [d for d in resolution.deployments if d.triggers]
    cached = type(deployment).model_validate(deployment.model_dump(mode="json"))
    assert cached.triggers == deployment.triggers, "the resolve cache keeps triggers as they are"
    assert deployment.listing()["triggers"][0]["upstream"] == "sales-etl/default"
    body = automation.body(ids, ["flowfleet.managed"])
    assert body["owner_resource"] == "prefect.deployment.down-id"
    assert body["tags"][-1].startswith("flowfleet.spec=")


def test_prefect_trigger_models_and_their_dict_form_are_accepted() -> None:
    from prefect.events import DeploymentCompoundTrigger, DeploymentEventTrigger

    config = DeploymentConfig(
        triggers=[
            DeploymentEventTrigger(expect={"external.file.arrived"}, name="on-file"),
            {"type": "compound", "require": "all", "triggers": [{"expect": ["a"]}]},
            after("sales-etl/default", state=["Failed", "Crashed"]),
        ]
    )
    assert isinstance(config.triggers[1], DeploymentCompoundTrigger)
    overridden = config.with_override({"parameters": {}})
    assert [type(t).__name__ for t in overridden.triggers] == [
        "DeploymentEventTrigger",
        "DeploymentCompoundTrigger",
        "After",
    ]
    assert config.with_override({"triggers": []}).triggers == []
    with pytest.raises(ValueError, match="a trigger is after"):
        DeploymentConfig(triggers=[42])


def test_a_prefect_trigger_keeps_its_name_and_run_fields(sandbox: Sandbox) -> None:
    team(
        sandbox,
        "acme_flows",
        {
            "report": "infra='worker', triggers=[DeploymentEventTrigger("
            "expect={'external.file.arrived'}, name='on-file', parameters={'run': 'x'})]"
        },
    )
    [deployment] = sandbox.resolve("prod").deployments
    [automation] = from_triggers([deployment])
    assert automation.name == "on-file"
    assert automation.trigger["expect"] == ["external.file.arrived"]
    assert automation.trigger["type"] == "event"
    assert automation.actions[0]["parameters"] == {"run": "x"}


def test_a_trigger_on_a_deployment_not_in_the_environment_is_one_line(sandbox: Sandbox) -> None:
    team(sandbox, "upstream_flows", {"sales-etl": "infra='worker', environments=['prod']"})
    team(
        sandbox,
        "downstream_flows",
        {"audience": "infra='worker', triggers=[after('sales-etl/default')]"},
    )
    assert sandbox.problems("prod") == []
    [line] = sandbox.problems("dev")
    assert line.startswith("downstream-flows audience/default field 'triggers': runs after ")
    assert "sales-etl/default, which is not deployed in environment 'dev'" in line
    assert "\n" not in line


def test_a_cycle_is_one_line_naming_both_ends(sandbox: Sandbox) -> None:
    upstream = "infra='worker', triggers=[after('audience/default')]"
    team(sandbox, "upstream_flows", {"sales-etl": upstream})
    team(
        sandbox,
        "downstream_flows",
        {"audience": "infra='worker', triggers=[after('sales-etl/default')]"},
    )
    [line] = sandbox.problems("prod")
    assert "trigger cycle: " in line
    assert "audience/default" in line and "sales-etl/default" in line


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ("after('sales-etl')", "does not name a deployment"),
        ("after('sales-etl/default', state='Done')", "unknown state(s) ['Done']"),
    ],
)
def test_bad_after_arguments_are_one_line(sandbox: Sandbox, call: str, message: str) -> None:
    team(sandbox, "upstream_flows", {"sales-etl": "infra='worker'"})
    team(sandbox, "downstream_flows", {"audience": f"infra='worker', triggers=[{call}]"})
    [line] = sandbox.problems("prod")
    assert "field 'triggers[0]'" in line and message in line


def test_graph_is_mermaid_with_one_edge_per_after(sandbox: Sandbox) -> None:
    team(sandbox, "upstream_flows", {"sales-etl": "infra='worker'"})
    team(
        sandbox,
        "downstream_flows",
        {
            "audience": "infra='worker', triggers=[after('sales-etl/default')]",
            "campaign": "infra='worker', triggers=[after('audience/default', state='Failed')]",
        },
    )
    text = mermaid(sandbox.resolve("prod").deployments)
    assert text.splitlines()[0] == "flowchart LR"
    assert "-->|Completed| " in text and "-->|Failed| " in text
    assert '"sales-etl/default"' in text and '"campaign/default"' in text


# -- the automation plan, against a server's list as JSON --------------------------------

TAGS = ["flowfleet.managed", "flowfleet.project=p", "flowfleet.env=prod", "flowfleet.package=k"]


def desired(name: str = "a", **fields) -> DesiredAutomation:
    base = dict(
        name=name,
        package="k",
        trigger={"type": "event", "expect": ["x.y"], "match": {}},
        actions=[{"type": "run-deployment", "deployment_id": "<deployment:f/d>"}],
        deployment="f/d",
    )
    return DesiredAutomation(**{**base, **fields})


def observed(want: DesiredAutomation, ids: dict, tags=TAGS, **data) -> ObservedAutomation:
    """What the server returns for an automation written from `want`: its body plus ids."""
    body = want.body(ids, list(tags))
    body.pop("owner_resource", None)
    trigger = {**body["trigger"], "id": "t1", "within": 0.0, "threshold": 1}
    row = {**body, "trigger": trigger, "id": f"id-{want.name}", **data}
    return ObservedAutomation.from_json(row)


def plan(want, have, **options):
    options = {"project": "p", "environment": "prod", "packages": {"k"}, **options}
    return plan_automations(want, have, {"f/d": "dep-1"}, **options)


def test_an_automation_written_as_planned_is_unchanged() -> None:
    want = desired()
    result = plan([want], [observed(want, {"f/d": "dep-1"})])
    assert [c.full_name for c in result.unchanged] == ["a"]
    assert not result.has_changes


def test_changes_name_the_field_and_a_new_deployment_id_shows() -> None:
    want = desired()
    have = observed(want, {"f/d": "dep-1"}, enabled=False)
    [update] = plan([want], [have]).update
    assert update.changes == {"enabled": {"from": False, "to": True}}
    moved = observed(want, {"f/d": "dep-0"})  # the deployment was deleted and made again
    [update] = plan([want], [moved]).update
    assert set(update.changes) == {"actions"}


def test_removed_trigger_deletes_only_that_owned_automation() -> None:
    keep, gone = desired("keep"), desired("gone")
    ids = {"f/d": "dep-1"}
    hand_made = observed(desired("by hand"), ids, tags=[])
    other_env = observed(desired("other"), ids, tags=[*TAGS[:2], "flowfleet.env=dev", TAGS[3]])
    have = [observed(keep, ids), observed(gone, ids), hand_made, other_env]
    result = plan([keep], have)
    assert [c.full_name for c in result.delete] == ["gone"]
    pruned = plan([keep], have, prune=True, packages=set())
    assert [c.full_name for c in pruned.delete] == ["gone"]
    assert plan([keep], have, packages=set()).delete == [], "another package's: only --prune"
    assert plan([keep], have, prune=True, failed_packages={"k"}).delete == []


def test_a_hand_made_automation_with_the_wanted_name_is_a_conflict_unless_adopted() -> None:
    want = desired()
    hand_made = observed(want, {"f/d": "dep-1"}, tags=[])
    result = plan([want], [hand_made])
    assert result.blockers and "not managed by flowfleet" in result.blockers[0]
    [adopted] = plan([want], [hand_made], adopt=True).update
    assert "tags" in adopted.changes


@pytest.mark.cli
def test_graph_of_the_example_fleet_shows_the_cross_team_trigger() -> None:
    done = run_cli("graph", "--env", "dev")
    assert done.returncode == 0, done.stderr
    assert (
        done.stdout.splitlines()
        == dedent(
            """
        flowchart LR
          marketing_campaign_sync_default["marketing-campaign-sync/default"]
          sales_etl_default["sales-etl/default"]
          sales_etl_default -->|Completed| marketing_campaign_sync_default
        """
        ).splitlines()
    )


def test_prune_takes_the_automations_that_run_a_deleted_deployment_and_no_others() -> None:
    from flowfleet.automation_plan import orphaned

    ids = {"f/d": "dep-1"}
    runs_it = observed(desired("runs it"), ids)
    runs_another = observed(desired("another"), {"f/d": "dep-2"})
    hand_made = observed(desired("by hand"), ids, tags=[])
    rows = orphaned([runs_it, runs_another, hand_made], {"dep-1", None}, "p", "prod")
    assert [(r.full_name, r.reason) for r in rows] == [("runs it", "its deployment is deleted")]
    assert orphaned([runs_it], {"dep-1"}, "p", "dev") == []


def test_plan_outputs_show_the_automations_beside_the_deployments() -> None:
    from flowfleet.plan import Plan
    from flowfleet.render import plan_json, plan_markdown
    from flowfleet.render_github import plan_section

    want = desired("run after load")
    planned = Plan(environment="prod", project="p", api_url="http://server/api")
    planned.automations = plan([want], [])
    assert planned.has_changes
    data = plan_json(planned)
    assert {"create", "update", "unchanged", "delete", "conflicts"} <= set(data)
    assert data["automations"]["create"] == [
        {"full_name": "run after load", "package": "k", "deployment": "f/d"}
    ]
    assert "| `run after load` | create | f/d |" in plan_markdown(planned)
    comment = plan_section(planned)
    assert "1 automation change(s) to apply" in comment and "`run after load`" in comment
