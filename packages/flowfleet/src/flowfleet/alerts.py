"""A package's alerts as one Prefect automation per environment: pure data, no server.

`package_alerts` says, from the team settings (team.py) and the resolved deployments,
which packages alert in an environment and on what. `PackageAlert.automation` turns
one into the automation Prefect stores, once the ids it needs are known:

- the trigger is an `EventTrigger` on `prefect.flow-run.<State>` events whose related
  `deployment` resource is one of the package's deployments. Prefect 3.9.1's run
  events carry no deployment labels (server/models/events.py), only the deployment's
  id, name and tags, so the deployments are matched by id; the ids come from the
  server at plan and apply time.
- the action is `send-notification` with the block document's id, found on the server
  by its `<block-type-slug>/<block-name>` reference (alert_blocks.py). The block is
  never made or read back by flowfleet, so no secret of it passes through here.

Both are built with Prefect's own models, so a shape the server would refuse fails here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from flowfleet.desired import DesiredDeployment
from flowfleet.team import Team

FLOW_RUN_EVENT = "prefect.flow-run."
NEW = "(new) "  # stands in for the id of a deployment the plan has yet to create

SUBJECT = "[{env}] {{{{ flow.name }}}}/{{{{ deployment.name }}}}: {{{{ flow_run.state.name }}}}"
BODY = (
    "Flow run {{{{ flow_run.name }}}} ({{{{ flow_run.id }}}}) of "
    "{{{{ flow.name }}}}/{{{{ deployment.name }}}} entered {{{{ flow_run.state.name }}}}: "
    "{{{{ flow_run.state.message }}}}\n"
    "Package {package} in environment {env}; owners: {owners}."
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

    @property
    def name(self) -> str:
        return f"alerts: {self.package} ({self.environment})"

    @property
    def description(self) -> str:
        owners = ", ".join(self.owners) or "no owners declared"
        return (
            f"Notifies {self.notify} when a run of {self.package}'s deployments in "
            f"{self.environment} is {' or '.join(self.states)} ({owners})."
        )

    def events(self) -> list[str]:
        return sorted(f"{FLOW_RUN_EVENT}{state}" for state in self.states)

    def unresolved(self, deployment_ids: Mapping[str, str]) -> list[str]:
        """The package's deployments without an id on the server: written nowhere yet."""
        return [name for name in self.deployments if not deployment_ids.get(name)]

    def trigger(self, deployment_ids: Mapping[str, str]) -> dict[str, Any]:
        """The EventTrigger as JSON. A deployment without an id yet (to be created) is
        named `(new) flow/name`, so the plan shows it; apply passes real ids."""
        from prefect.events.schemas.automations import EventTrigger, Posture

        resources = sorted(
            f"prefect.deployment.{deployment_ids.get(name) or NEW + name}"
            for name in self.deployments
        )
        trigger = EventTrigger(
            expect=set(self.events()),
            match={"prefect.resource.id": "prefect.flow-run.*"},
            match_related={"prefect.resource.role": "deployment", "prefect.resource.id": resources},
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
            subject=SUBJECT.format(env=self.environment),
            body=BODY.format(package=self.package, env=self.environment, owners=owners),
        )
        return [action.model_dump(mode="json")]

    def automation(self, deployment_ids: Mapping[str, str], block_id: str) -> dict[str, Any]:
        """The automation's fields: name, package, trigger, actions, description, enabled."""
        return {
            "name": self.name,
            "package": self.package,
            "trigger": self.trigger(deployment_ids),
            "actions": self.actions(block_id),
            "description": self.description,
            "enabled": True,
        }


def package_alerts(
    teams: Iterable[Team], environment: str, deployments: Iterable[DesiredDeployment]
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
            )
        )
    return found
