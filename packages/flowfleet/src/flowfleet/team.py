"""A package's team settings, declared once in its `pyproject.toml`: owners and alerts.

```toml
[tool.flowfleet]
owners = ["team-sales"]

[tool.flowfleet.alerts]
states = ["Failed", "Crashed"]           # the flow-run states that alert
notify = "slack-webhook/sales-alerts"    # <block-type-slug>/<block-name>, on the server

[tool.flowfleet.alerts.overrides.prod]   # per environment, laid over the table
notify = "slack-webhook/sales-oncall"

[tool.flowfleet.alerts.overrides.local]
enabled = false
```

Every deployment of the package carries its owners as labels (`owner.<team>`), and
one automation per package and environment sends the named block's notification
when a run of one of the package's deployments reaches one of the states
(alerts.py). The block lives on the server: flowfleet refers to it, never makes it,
so no secret of the block passes through flowfleet. Pure: it reads only the options
the workspace already parsed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from flowfleet.facts import Facts
from flowfleet.name_checks import did_you_mean
from flowfleet.problems import Problem
from flowfleet.workspace import Member

OWNER_LABEL_PREFIX = "owner."
OWNER = re.compile(r"[a-z0-9][a-z0-9_.-]*")
# Prefect's block type slugs and block document names: lowercase letters, digits, dashes.
BLOCK_REFERENCE = re.compile(r"([a-z0-9-]+)/([a-z0-9-]+)")
# Every state name a Prefect 3.9.1 flow run can enter (prefect.states' constructors, plus
# the flow engine's TimedOut); the server's events are `prefect.flow-run.<name>`.
# tests/test_team.py keeps this equal to the installed Prefect's.
RUN_STATES = (
    "Scheduled",
    "Late",
    "AwaitingRetry",
    "AwaitingConcurrencySlot",
    "Pending",
    "Submitting",
    "InfrastructurePending",
    "Running",
    "Retrying",
    "Paused",
    "Suspended",
    "Cancelling",
    "Cancelled",
    "Completed",
    "Failed",
    "TimedOut",
    "Crashed",
)
ALERT_KEYS = ("states", "notify", "enabled")


class Alerts(BaseModel):
    """One environment's alert settings for a package (overrides already laid on)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    states: tuple[str, ...] = ("Failed", "Crashed")
    notify: str | None = None  # "<block-type-slug>/<block-name>"
    enabled: bool = True

    @property
    def active(self) -> bool:
        return self.enabled and self.notify is not None


@dataclass(frozen=True)
class Team:
    """A package's owners and its alerts in one environment (None: no alerts)."""

    package: str
    owners: tuple[str, ...] = ()
    alerts: Alerts | None = None
    source: str | None = None  # its pyproject.toml, for messages

    def owner_labels(self) -> dict[str, str]:
        return {f"{OWNER_LABEL_PREFIX}{owner}": "true" for owner in self.owners}


def team_for(facts: Facts, package: str) -> tuple[Team, list[Problem]]:
    """The team settings of one package of the workspace, in the facts' environment."""
    member = facts.member(package)
    if member is None:
        return Team(package), []
    return team_of(
        package,
        member.options,
        facts.environment.name,
        facts.known_environments,
        f"{member.path}/pyproject.toml",
    )


def teams(members: Mapping[str, Member], environment: str, known: list[str]) -> list[Team]:
    """Every flow package's team settings in `environment` (problems dropped: `resolve`
    reports them, and stops before a plan)."""
    return [
        team_of(m.name, m.options, environment, known, f"{m.path}/pyproject.toml")[0]
        for m in members.values()
        if m.is_flow_package
    ]


def team_of(
    package: str,
    options: Mapping[str, Any],
    environment: str,
    known_environments: list[str],
    source: str | None = None,
) -> tuple[Team, list[Problem]]:
    """The package's team settings in `environment`, and every problem of its table
    (all environments' overrides are checked, whichever one is resolved)."""
    problems: list[Problem] = []

    def problem(message: str, field: str, fix: str) -> None:
        problems.append(Problem(message, package, None, f"tool.flowfleet.{field}", fix, source))

    owners = _owners(options.get("owners", []), problem)
    table = options.get("alerts")
    if table is None:
        return Team(package, owners, source=source), problems
    if not isinstance(table, Mapping):
        problem(
            "alerts must be a table",
            "alerts",
            'write [tool.flowfleet.alerts] with states = [...] and notify = "<type>/<name>"',
        )
        return Team(package, owners, source=source), problems
    overrides = table.get("overrides", {})
    if not isinstance(overrides, Mapping):
        overrides = {}
        problem("overrides must be a table of environments", "alerts.overrides", _TABLE_FIX)
    base = {k: v for k, v in table.items() if k != "overrides"}
    chosen = _alerts(base, "alerts", problem)
    for env_name, override in overrides.items():
        where = f"alerts.overrides.{env_name}"
        if env_name not in known_environments:
            fix = did_you_mean(env_name, known_environments) or "use a known environment name"
            problem(f"unknown environment '{env_name}'", where, fix)
        elif not isinstance(override, Mapping):
            problem("an override must be a table", where, _TABLE_FIX)
        else:
            merged = _alerts({**base, **override}, where, problem)
            if env_name == environment:
                chosen = merged
    return Team(package, owners, chosen, source), problems


_TABLE_FIX = "write [tool.flowfleet.alerts.overrides.<env>] with states, notify or enabled"


def _owners(value: Any, problem: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(o, str) for o in value):
        problem(
            "owners must be a list of team names",
            "owners",
            'write owners = ["team-sales"]',
        )
        return ()
    found: list[str] = []
    for owner in value:
        if not OWNER.fullmatch(owner):
            problem(
                f"owner '{owner}' is not a label-safe name",
                "owners",
                "use lowercase letters, digits, '-', '_' or '.', starting with a letter or digit",
            )
        elif owner in found:
            problem(f"owner '{owner}' is listed twice", "owners", "list each owner once")
        else:
            found.append(owner)
    return tuple(found)


def _alerts(data: Mapping[str, Any], where: str, problem: Any) -> Alerts | None:
    """One environment's alerts, every bad key, state and reference reported."""
    ok = True
    for key in data:
        if key not in ALERT_KEYS:
            fix = did_you_mean(key, list(ALERT_KEYS)) or f"use {', '.join(ALERT_KEYS)}"
            problem(f"unknown key '{key}'", f"{where}.{key}", fix)
            ok = False
    states = data.get("states", Alerts().states)
    if isinstance(states, list | tuple) and states and all(isinstance(s, str) for s in states):
        for state in states:
            if state not in RUN_STATES:
                fix = did_you_mean(state, list(RUN_STATES)) or "use e.g. Failed, Crashed, TimedOut"
                problem(f"unknown run state '{state}'", f"{where}.states", fix)
                ok = False
    else:
        problem(
            "states must be a non-empty list of run state names",
            f"{where}.states",
            'write states = ["Failed", "Crashed"]',
        )
        ok = False
    notify = data.get("notify")
    if notify is not None and not (isinstance(notify, str) and BLOCK_REFERENCE.fullmatch(notify)):
        problem(
            f"notify {notify!r} is not a block reference",
            f"{where}.notify",
            'write notify = "<block-type-slug>/<block-name>", e.g. "slack-webhook/sales-alerts"',
        )
        ok = False
    enabled = data.get("enabled", True)
    if not isinstance(enabled, bool):
        problem("enabled must be true or false", f"{where}.enabled", "write enabled = false")
        ok = False
    elif enabled and notify is None and ok:
        problem(
            "alerts are enabled but name no notification block",
            f"{where}.notify",
            'add notify = "<block-type-slug>/<block-name>", or enabled = false',
        )
        ok = False
    if not ok:
        return None
    return Alerts(states=tuple(dict.fromkeys(states)), notify=notify, enabled=enabled)
