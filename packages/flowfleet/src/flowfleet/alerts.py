"""A package's alerts as one owned Prefect automation per environment. Pure: no server.

`package_alerts` says, from the team settings (team.py) and the resolved deployments,
which packages alert in an environment and on what. `PackageAlert.automation` turns
one into a `DesiredAutomation` (automations.py), which plan, apply and prune treat
like a trigger's: owned by tags, matched by name, deleted with its package.

- The trigger is an `EventTrigger` on `prefect.flow-run.<State>` events whose related
  `deployment` resource is one of the package's deployments. Prefect 3.9.1's run
  events carry no deployment labels (server/models/events.py), only the deployment's
  id, name and tags, so the deployments are matched by id: written as references
  (`<deployment:flow/name>`), bound to the server's ids at plan and again at apply.
- The action is `send-notification` with the id of the block document the package
  names (`<block-type-slug>/<block-name>`), as read with the server state
  (alert_blocks.py). flowfleet never creates that block nor reads its secrets.

Both are built with Prefect's own models, so a shape the server would refuse fails here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from string import Template
from typing import Any

from flowfleet.automations import DesiredAutomation
from flowfleet.desired import DesiredDeployment
from flowfleet.problems import FlowfleetError, Problem
from flowfleet.team import Team, teams
from flowfleet.triggers import reference

FLOW_RUN_EVENT = "prefect.flow-run."

# Jinja for the server's actions service; $names are filled in here.
SUBJECT = Template("[$env] {{ flow.name }}/{{ deployment.name }}: {{ flow_run.state.name }}")
BODY = Template(
    "Flow run {{ flow_run.name }} ({{ flow_run.id }}) of {{ flow.name }}/{{ deployment.name }} "
    "entered {{ flow_run.state.name }}: {{ flow_run.state.message }}\n"
    "Package $package in environment $env; owners: $owners."
)


@dataclass(frozen=True)
class PackageAlert:
    """One package's alerts in one environment: what its code and pyproject say."""

    package: str
    environment: str
    owners: tuple[str, ...]
    states: tuple[str, ...]
    notify: str  # "<block-type-slug>/<block-name>"
    deployments: tuple[str, ...]  # the package's full names here, sorted
    lane: str | None = None  # a branch lane's alerts are its own automation
    source: str | None = None  # the package's pyproject.toml, for messages

    @property
    def name(self) -> str:
        lane = f" [{self.lane}]" if self.lane else ""
        return f"alerts: {self.package} ({self.environment}){lane}"

    @property
    def description(self) -> str:
        owners = ", ".join(self.owners) or "no owners declared"
        return (
            f"Notifies {self.notify} when a run of {self.package}'s deployments in "
            f"{self.environment} is {' or '.join(self.states)} ({owners})."
        )

    def events(self) -> list[str]:
        return sorted(f"{FLOW_RUN_EVENT}{state}" for state in self.states)

    def trigger(self) -> dict[str, Any]:
        """The EventTrigger as JSON, its deployments by reference."""
        from prefect.events.schemas.automations import EventTrigger, Posture

        deployments = [f"prefect.deployment.{reference(name)}" for name in self.deployments]
        trigger = EventTrigger(
            expect=set(self.events()),
            match={"prefect.resource.id": "prefect.flow-run.*"},
            match_related={
                "prefect.resource.role": "deployment",
                "prefect.resource.id": deployments,
            },
            posture=Posture.Reactive,
            threshold=1,
            within=0,
            for_each={"prefect.resource.id"},
        )
        data = trigger.model_dump(mode="json")
        data["expect"] = self.events()  # a set in the model: in a stable order
        return data

    def actions(self, block_id: str) -> list[dict[str, Any]]:
        from prefect.events.actions import SendNotification

        owners = ", ".join(self.owners) or "none declared"
        action = SendNotification(
            block_document_id=block_id,
            subject=SUBJECT.substitute(env=self.environment),
            body=BODY.substitute(package=self.package, env=self.environment, owners=owners),
        )
        return [action.model_dump(mode="json")]

    def automation(self, block_id: str) -> DesiredAutomation:
        return DesiredAutomation(
            name=self.name,
            package=self.package,
            trigger=self.trigger(),
            actions=self.actions(block_id),
            description=self.description,
            source=self.source or "",
        )

    def missing_block(self, api_url: str) -> Problem:
        return Problem(
            f"no notification block '{self.notify}' on the server at {api_url}",
            self.package,
            None,
            "tool.flowfleet.alerts.notify",
            f"create it in the Prefect UI (Blocks) or with `prefect block create "
            f"{self.notify.split('/')[0]}`; flowfleet refers to it and never creates it",
            self.source,
        )


def package_alerts(
    teams: Iterable[Team],
    environment: str,
    deployments: Iterable[DesiredDeployment],
    lane: str | None = None,
) -> list[PackageAlert]:
    """Every package that alerts in `environment` and has a deployment there."""
    names: dict[str, list[str]] = {}
    for deployment in deployments:
        names.setdefault(deployment.package, []).append(deployment.full_name)
    found = []
    for team in sorted(teams, key=lambda t: t.package):
        alerts = team.alerts
        if alerts is None or not alerts.active or not names.get(team.package):
            continue
        found.append(
            PackageAlert(
                package=team.package,
                environment=environment,
                owners=team.owners,
                states=alerts.states,
                notify=alerts.notify or "",
                deployments=tuple(sorted(names[team.package])),
                lane=lane,
                source=team.source,
            )
        )
    return found


def alert_automations(
    alerts: Iterable[PackageAlert], blocks: Mapping[str, str], api_url: str
) -> list[DesiredAutomation]:
    """The alerts' automations, their blocks bound from `blocks` (reference -> id);
    a block that is not on the server is one line each, raised before anything is written."""
    alerts = list(alerts)
    missing = [a.missing_block(api_url) for a in alerts if a.notify not in blocks]
    if missing:
        raise FlowfleetError(*missing)
    return [a.automation(blocks[a.notify]) for a in alerts]


def target_alerts(target: Any, blocks: Mapping[str, str]) -> list[DesiredAutomation]:
    """An `engine.Target`'s alert automations, against the blocks read from its server."""
    workspace = target.session.workspace
    env = target.environment.name
    found = teams(workspace.members, env, target.session.known_environments)
    alerts = package_alerts(found, env, target.desired, target.lane)
    return alert_automations(alerts, blocks, target.api_url)
