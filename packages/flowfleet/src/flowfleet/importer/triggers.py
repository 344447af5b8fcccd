"""Map existing triggers onto `triggers=[...]`. Pure: no I/O.

Two sources give the same shape, Prefect's deployment-trigger dict (prefect.yaml's
`triggers:` entries): a prefect.yaml entry as written, and a server automation that
runs the deployment, turned into that shape by `from_automation`. Each becomes
Prefect's own `DeploymentEventTrigger(...)` (or Compound / Sequence / Metric), or
`after("flow/name", state=...)` when it is exactly what `after()` builds and names a
deployment the server holds. An automation that does more than run this deployment
stays on the server, reported. Imported automations keep their names, so
`plan --adopt` takes the server's automation over instead of adding a second one.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from flowfleet.importer.pysource import Call

KINDS = {
    "event": "DeploymentEventTrigger",
    "compound": "DeploymentCompoundTrigger",
    "sequence": "DeploymentSequenceTrigger",
    "metric": "DeploymentMetricTrigger",
}
UPSTREAM = "__upstream__"  # set by the server reader: the upstream deployment's flow/name
RUN_FIELDS = ("name", "description", "enabled", "parameters", "job_variables", "schedule_after")
_AFTER_SHAPE = {
    "type": "event",
    "match": {"prefect.resource.id": "prefect.flow-run.*"},
    "after": [],
    "for_each": ["prefect.resource.id"],
    "posture": "Reactive",
    "threshold": 1,
}
_STATE_EVENT = "prefect.flow-run."


def from_automation(
    automation: dict[str, Any], deployment_names: dict[str, str]
) -> dict[str, Any] | str:
    """A server automation as a deployment-trigger dict; a reason string when it does
    more than run one deployment (its other actions would be lost)."""
    actions = automation.get("actions") or []
    extra = (automation.get("actions_on_trigger") or []) + (
        automation.get("actions_on_resolve") or []
    )
    if len(actions) != 1 or extra or actions[0].get("source", "selected") != "selected":
        return "it does more than run this deployment"
    action = actions[0]
    data: dict[str, Any] = _compact(automation["trigger"])
    data["name"] = automation.get("name")
    if automation.get("description"):
        data["description"] = automation["description"]
    if automation.get("enabled") is False:
        data["enabled"] = False
    for key in ("parameters", "job_variables"):
        if action.get(key) is not None:
            data[key] = action[key]
    if action.get("schedule_after"):
        data["schedule_after"] = action["schedule_after"]
    related = data.get("match_related")
    related_id = related.get("prefect.resource.id", "") if isinstance(related, dict) else ""
    upstream = deployment_names.get(str(related_id).removeprefix("prefect.deployment."))
    if upstream:
        data[UPSTREAM] = upstream
    return data


def trigger_arguments(triggers: list[Any], problem: Any) -> list[tuple[str, Any]]:
    """`[("triggers", [...])]`, or nothing; each entry that cannot map is a problem."""
    calls: list[Any] = []
    for index, entry in enumerate(triggers):
        where = f"triggers[{index}]"
        if isinstance(entry, str):  # a reason, from `from_automation`
            continue
        if not isinstance(entry, dict):
            problem(where, f"is not a trigger mapping: {entry!r}", "write it as a mapping")
            continue
        call = _as_after(entry) or _as_prefect(entry, where, problem)
        if call is not None:
            calls.append(call)
    for entry in triggers:
        if isinstance(entry, str):
            problem(
                "triggers",
                f"automation {entry}, so it was left on the server",
                "keep it there; flowfleet never touches automations it does not own",
            )
    return [("triggers", calls)] if calls else []


def _as_prefect(entry: dict[str, Any], where: str, problem: Any) -> Call | None:
    from prefect.events.schemas.automations import trigger_discriminator
    from prefect.events.schemas.deployment_triggers import DeploymentTriggerTypes
    from pydantic import TypeAdapter

    data = {k: v for k, v in entry.items() if k != UPSTREAM}
    try:
        TypeAdapter(DeploymentTriggerTypes).validate_python(data)
    except ValidationError as error:
        first = error.errors()[0]
        problem(
            where,
            f"is not a trigger Prefect accepts ({first['msg']} at "
            f"{'.'.join(str(p) for p in first['loc'])}), so it was left out",
            "fix it and add it to `triggers=[...]` by hand",
        )
        return None
    kind = trigger_discriminator(data)
    arguments = tuple((k, v) for k, v in data.items() if k != "type")
    return Call(KINDS[kind], "prefect.events", arguments)


def _as_after(entry: dict[str, Any]) -> Call | None:
    """`after(...)` when the entry is exactly the trigger `after()` builds."""
    upstream = entry.get(UPSTREAM)
    if not upstream or not _after_shaped(entry):
        return None
    states = sorted(e.removeprefix(_STATE_EVENT) for e in entry["expect"])
    arguments: list[tuple[str, Any]] = []
    if states != ["Completed"]:
        arguments.append(("state", states[0] if len(states) == 1 else states))
    for key in RUN_FIELDS:
        if entry.get(key) not in (None, "", True):
            arguments.append((key, entry[key]))
    return Call("after", "flowfleet", tuple(arguments), (upstream,))


def _after_shaped(entry: dict[str, Any]) -> bool:
    expect = entry.get("expect") or []
    if not expect or not all(e.startswith(_STATE_EVENT) for e in expect):
        return False
    if any(entry.get(k, v) != v for k, v in _AFTER_SHAPE.items()):
        return False
    related = entry.get("match_related") or {}
    if not isinstance(related, dict) or set(related) != {
        "prefect.resource.id",
        "prefect.resource.role",
    }:
        return False
    return related["prefect.resource.role"] == "deployment" and not float(entry.get("within") or 0)


# What the server fills in for a trigger that did not set it: left out when importing.
_DEFAULTS = {
    "match": {},
    "match_related": {},
    "after": [],
    "expect": [],
    "for_each": [],
    "posture": "Reactive",
    "threshold": 1,
    "within": 0,
}


def _compact(value: Any) -> Any:
    """The trigger as one would write it: the server's ids and defaults left out, at
    every level (`after()`'s shape is checked on the full form first)."""
    if isinstance(value, list):
        return [_compact(v) for v in value]
    if not isinstance(value, dict):
        return value
    full = {k: _compact(v) for k, v in value.items() if k != "id"}
    if full.get("type") != "event" or _after_shaped(full):
        return full
    return {k: v for k, v in full.items() if k not in _DEFAULTS or _DEFAULTS[k] != v}
