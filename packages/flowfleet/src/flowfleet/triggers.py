"""Triggers: run a deployment when something happens, declared beside the flow.

`DeploymentConfig(triggers=[...])` takes Prefect's own deployment triggers
(`prefect.events.DeploymentEventTrigger`, `DeploymentCompoundTrigger`,
`DeploymentSequenceTrigger`, `DeploymentMetricTrigger`, or their dict form as in
prefect.yaml) and flowfleet's `after(...)`, the monorepo case: run this deployment
when another fleet deployment's run reaches a state.

`after()` names the upstream deployment as declared (`"sales-etl/default"`), not by
id: the id exists only once the upstream is on the server. Resolution turns every
trigger into a `TriggerSpec` (plain JSON, no Prefect object) and `automations.py`
turns those into automations whose deployment references are bound to ids at apply.
This module imports Prefect only to read a Prefect trigger, which a flow module that
uses one has imported already.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator

# Flow-run states whose event (`prefect.flow-run.<State>`) an `after()` may wait for.
STATES = (
    "Completed",
    "Failed",
    "Crashed",
    "Cancelled",
    "TimedOut",
    "Running",
    "Pending",
    "Scheduled",
    "Late",
    "Paused",
    "Cancelling",
    "AwaitingRetry",
    "Retrying",
)


class After(BaseModel):
    """Run this deployment when a run of `deployment` (a fleet deployment in the same
    environment, `flow/name` as declared) reaches one of `state`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["after"] = "after"
    deployment: str
    state: tuple[str, ...] = ("Completed",)
    parameters: dict[str, Any] | None = None  # values may template the event: "{{ event... }}"
    job_variables: dict[str, Any] | None = None
    name: str | None = None  # the automation's name; default "<this> after <upstream> <state>"
    description: str = ""
    enabled: bool = True
    schedule_after: timedelta = timedelta(0)

    @field_validator("state", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value


def after(
    deployment: str,
    state: str | list[str] = "Completed",
    *,
    parameters: dict[str, Any] | None = None,
    job_variables: dict[str, Any] | None = None,
    name: str | None = None,
    description: str = "",
    enabled: bool = True,
    schedule_after: timedelta = timedelta(0),
) -> After:
    """`after("sales-etl/default", state="Completed", parameters={"run": "{{ event.id }}"})`:
    the parameters may template the triggering event, as Prefect's automations do."""
    return After(
        deployment=deployment,
        state=state,
        parameters=parameters,
        job_variables=job_variables,
        name=name,
        description=description,
        enabled=enabled,
        schedule_after=schedule_after,
    )


class TriggerSpec(BaseModel):
    """One resolved trigger of one deployment: what its automation is made from.

    `trigger` is Prefect trigger JSON (for `after()`, built at resolution with Prefect's
    `EventTrigger`, the upstream's id left as a reference); `upstream` is the upstream's
    server full name for `after()`, None for a Prefect trigger.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    trigger: dict[str, Any]
    name: str | None = None
    description: str = ""
    enabled: bool = True
    parameters: dict[str, Any] | None = None
    job_variables: dict[str, Any] | None = None
    schedule_after: float = 0.0  # seconds
    upstream: str | None = None
    declared: str | None = None  # the upstream as written, for messages
    state: tuple[str, ...] = ()

    def label(self) -> str:
        """What the graph and messages call it: the states, or the events it expects."""
        if self.upstream:
            return " or ".join(self.state)
        expect = self.trigger.get("expect") or []
        return ", ".join(sorted(expect)) or self.trigger.get("type", "trigger")


def coerce(value: Any) -> list[Any]:
    """`DeploymentConfig.triggers` items: `After`, or a Prefect deployment trigger
    (a model, or its dict form validated by Prefect's own union)."""
    if value is None:
        return []
    items = []
    for item in value:
        if isinstance(item, After) or _is_prefect_trigger(item):
            items.append(item)
        elif isinstance(item, dict) and item.get("type") == "after":
            items.append(After(**item))
        elif isinstance(item, dict):
            from prefect.events.schemas.deployment_triggers import DeploymentTriggerTypes
            from pydantic import TypeAdapter

            items.append(TypeAdapter(DeploymentTriggerTypes).validate_python(item))
        else:
            raise ValueError(
                f"a trigger is after(...) or one of prefect.events' Deployment*Trigger "
                f"models, not {type(item).__name__}"
            )
    return items


def _is_prefect_trigger(item: Any) -> bool:
    module = type(item).__module__
    return module.startswith("prefect.events") and hasattr(item, "model_dump")


REFERENCE = "<deployment:{}>"  # Prefect names cannot hold < or >: never a real value


def reference(full_name: str) -> str:
    """A deployment id to be filled in at apply (automations.bind)."""
    return REFERENCE.format(full_name)


def resolve_triggers(items: list[Any], server_full_name: Any, problem: Any) -> list[TriggerSpec]:
    """Each trigger as a `TriggerSpec`; `server_full_name(declared)` maps an `after()`
    reference to its name on this environment's server. Bad ones are problems."""
    specs: list[TriggerSpec] = []
    for index, item in enumerate(items):
        field_name = f"triggers[{index}]"
        if isinstance(item, After):
            spec = _after_spec(item, server_full_name, field_name, problem)
        else:
            spec = _prefect_spec(item)
        if spec is not None:
            specs.append(spec)
    return specs


def _after_spec(item: After, server_full_name: Any, field_name: str, problem: Any):
    flow, slash, name = item.deployment.partition("/")
    if not (flow and slash and name) or "/" in name:
        problem(
            f"after('{item.deployment}') does not name a deployment",
            field_name,
            "write the upstream as 'flow-name/deployment-name', e.g. after('sales-etl/default')",
        )
        return None
    unknown = [s for s in item.state if s not in STATES]
    if unknown or not item.state:
        problem(
            f"after('{item.deployment}') waits for unknown state(s) {unknown or '[]'}",
            field_name,
            f"use one of {', '.join(STATES)}",
        )
        return None
    upstream = server_full_name(flow, name)
    from prefect.events.schemas.automations import EventTrigger

    trigger = EventTrigger(
        match={"prefect.resource.id": "prefect.flow-run.*"},
        match_related={
            "prefect.resource.role": "deployment",
            "prefect.resource.id": f"prefect.deployment.{reference(upstream)}",
        },
        expect={f"prefect.flow-run.{s}" for s in item.state},
        for_each={"prefect.resource.id"},  # each upstream run fires once
        posture="Reactive",
        threshold=1,
        within=timedelta(0),
    )
    return TriggerSpec(
        trigger=_canonical(trigger.model_dump(mode="json")),
        name=item.name,
        description=item.description,
        enabled=item.enabled,
        parameters=item.parameters,
        job_variables=item.job_variables,
        schedule_after=item.schedule_after.total_seconds(),
        upstream=upstream,
        declared=item.deployment,
        state=tuple(item.state),
    )


def _prefect_spec(item: Any) -> TriggerSpec:
    """A Prefect deployment trigger: its plain trigger (as `Trigger.as_automation` makes
    it) and the run-deployment fields; a plain `EventTrigger` has none of those."""
    trigger_type = getattr(type(item), "trigger_type", None)
    plain = trigger_type(**item.model_dump()) if trigger_type else item
    return TriggerSpec(
        trigger=_canonical(plain.model_dump(mode="json")),
        name=getattr(item, "name", None),
        description=getattr(item, "description", "") or "",
        enabled=getattr(item, "enabled", True),
        parameters=getattr(item, "parameters", None),
        job_variables=getattr(item, "job_variables", None),
        schedule_after=getattr(item, "schedule_after", timedelta(0)).total_seconds(),
    )


def _canonical(value: Any) -> Any:
    """Sets dumped as lists are sorted, so the same trigger always hashes the same."""
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        items = [_canonical(v) for v in value]
        return sorted(items) if all(isinstance(v, str) for v in items) else items
    return value
