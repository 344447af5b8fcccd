"""Automations flowfleet owns, like its deployments: desired, observed, compared.

A `DesiredAutomation` is generic: a name, the package that owns it, a Prefect
trigger and Prefect actions as JSON (the `POST /automations/` body's `trigger` and
`actions`), a description and `enabled`. Nothing here assumes where one comes from.
Producers so far:
- `from_triggers` (below): one per trigger a deployment declares (`triggers=[...]`,
  `after(...)`), running that deployment;
- `alerts.target_alerts`: one per package and environment with alerts, added when
  the plan is made (it needs the server's notification block ids);
- any other producer builds `DesiredAutomation`s itself and adds them to
  `engine.Target.more_automations`; plan, apply and prune treat all alike.

Deployment ids exist only on the server, so the JSON may hold references,
`triggers.reference("flow/name")`, anywhere in a string (a `deployment_id`, or
`prefect.deployment.<ref>` in a trigger's match); `bind` fills them in from the
server's ids at plan and again at apply, after the deployments are written.
`deployment` names the fleet deployment the automation belongs to (its
`owner_resource`, so Prefect's UI shows it on that deployment's page).

Ownership: automations carry no labels, so flowfleet's marks are tags,
`flowfleet.managed`, `flowfleet.project=P`, `flowfleet.env=E`, `flowfleet.package=K`,
`flowfleet.spec=HASH` (and `flowfleet.branch=B` for a branch lane). An automation
without them is never updated or deleted (automation_plan.py).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from flowfleet import desired as ownership
from flowfleet.triggers import TriggerSpec, reference

MANAGED_TAG = ownership.MANAGED
_REFERENCE = re.compile(r"<deployment:([^<>]+)>")
_OWNER_KEYS = {
    "project": ownership.PROJECT,
    "env": ownership.ENV,
    "package": ownership.PACKAGE,
    "spec": ownership.SPEC,
    "branch": ownership.BRANCH,
}


class DesiredAutomation(BaseModel):
    """One automation as the code wants it in one environment. Pure data."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    package: str
    trigger: dict[str, Any]  # Prefect trigger JSON; may hold deployment references
    actions: list[dict[str, Any]]  # Prefect action JSON; may hold deployment references
    description: str = ""
    enabled: bool = True
    deployment: str | None = None  # the fleet deployment it belongs to (full name)
    source: str = ""  # "path:line" of what declared it, for messages
    actions_on_trigger: list[dict[str, Any]] = Field(default_factory=list)
    actions_on_resolve: list[dict[str, Any]] = Field(default_factory=list)

    def references(self) -> set[str]:
        """The fleet deployments (full names) whose ids the body needs."""
        found: set[str] = set()
        _walk(self._content(), lambda text: found.update(_REFERENCE.findall(text)) or text)
        if self.deployment:
            found.add(self.deployment)
        return found

    def _content(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "enabled": self.enabled,
            "trigger": self.trigger,
            "actions": self.actions,
            "actions_on_trigger": self.actions_on_trigger,
            "actions_on_resolve": self.actions_on_resolve,
        }

    def body(self, ids: Mapping[str, str], tags: list[str]) -> dict[str, Any]:
        """The write body with references bound; KeyError names a missing deployment.
        Its `flowfleet.spec` tag is the hash of everything else in it."""
        content = bind(self._content(), ids)
        body = {**content, "tags": [*tags, f"{ownership.SPEC}={content_hash(content)}"]}
        if self.deployment:
            body["owner_resource"] = f"prefect.deployment.{ids[self.deployment]}"
        return body

    def spec_hash(self, ids: Mapping[str, str]) -> str | None:
        """The hash this automation's tag would carry, or None while a referenced
        deployment has no id yet (it is about to be created)."""
        try:
            return content_hash(bind(self._content(), ids))
        except KeyError:
            return None


def owner_tags(project: str, environment: str, package: str, branch: str | None) -> list[str]:
    """flowfleet's ownership marks for one automation, as tags (the spec tag comes last)."""
    tags = [
        MANAGED_TAG,
        f"{ownership.PROJECT}={project}",
        f"{ownership.ENV}={environment}",
        f"{ownership.PACKAGE}={package}",
    ]
    return tags + ([f"{ownership.BRANCH}={branch}"] if branch else [])


@dataclass(frozen=True)
class ObservedAutomation:
    """One automation on the server, as `POST /automations/filter` returns it."""

    id: str
    name: str
    tags: tuple[str, ...]
    data: dict[str, Any]

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> ObservedAutomation:
        return cls(str(row["id"]), row["name"], tuple(row.get("tags") or ()), row)

    def mark(self, key: str) -> str | None:
        """The value of one ownership tag (`project`, `env`, `package`, `spec`, `branch`)."""
        prefix = f"{_OWNER_KEYS[key]}="
        return next((t[len(prefix) :] for t in self.tags if t.startswith(prefix)), None)

    def owned_by(self, project: str, environment: str, branch: str | None) -> bool:
        return (
            MANAGED_TAG in self.tags
            and self.mark("project") == project
            and self.mark("env") == environment
            and self.mark("branch") == branch
        )

    @property
    def managed(self) -> bool:
        return MANAGED_TAG in self.tags

    def field(self, name: str) -> Any:
        return self.data.get(name)


def bind(value: Any, ids: Mapping[str, str]) -> Any:
    """`value` with every deployment reference replaced by that deployment's id."""
    return _walk(value, lambda text: _REFERENCE.sub(lambda m: ids[m.group(1)], text))


def _walk(value: Any, on_text: Any) -> Any:
    if isinstance(value, str):
        return on_text(value)
    if isinstance(value, dict):
        return {k: _walk(v, on_text) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_walk(v, on_text) for v in value]
    return value


def content_hash(content: dict[str, Any]) -> str:
    canonical = json.dumps(content, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def from_triggers(deployments: list[Any]) -> list[DesiredAutomation]:
    """One automation per declared trigger: run the deployment when the trigger fires."""
    return [
        trigger_automation(d.full_name, d.package, spec, index, d.source)
        for d in deployments
        for index, spec in enumerate(d.triggers)
    ]


def trigger_automation(
    full_name: str, package: str, spec: TriggerSpec, index: int, source: str = ""
) -> DesiredAutomation:
    """As Prefect's `Trigger.as_automation` builds it, the deployment by reference."""
    action: dict[str, Any] = {
        "type": "run-deployment",
        "source": "selected",
        "deployment_id": reference(full_name),
        "parameters": spec.parameters,
        "job_variables": spec.job_variables,
    }
    if spec.schedule_after:
        action["schedule_after"] = spec.schedule_after
    if spec.name:
        name = spec.name
    elif spec.upstream:
        name = f"{full_name} after {spec.upstream} {'/'.join(spec.state)}"
    else:
        name = f"{full_name} trigger {index + 1}"
    return DesiredAutomation(
        name=name,
        package=package,
        trigger=spec.trigger,
        actions=[action],
        description=spec.description,
        enabled=spec.enabled,
        deployment=full_name,
        source=source,
    )
