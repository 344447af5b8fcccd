"""The automations part of a plan: create / update / unchanged / delete, as data. Pure.

Automations are matched by name among the ones this project, environment and branch
lane own (their tags, see automations.py). Rules, as for deployments:
- an automation without flowfleet's tags is never touched; one with the wanted name
  is a conflict unless `--adopt` takes it over;
- an owned automation no longer declared is deleted when its package still loaded
  cleanly and is deployed here (its trigger was removed), or with `--prune`; never
  when any package failed to load.
A change is what the code says differs from the server: `enabled`, `description`,
the trigger and actions (compared on the keys the code sets, server-made ids aside),
the ownership tags, and last the `flowfleet.spec` hash tag, which also sees a
referenced deployment's id change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field

from flowfleet.automations import DesiredAutomation, ObservedAutomation, bind, owner_tags

Action = Literal["create", "update", "unchanged", "delete", "conflict"]
SECTIONS = ("create", "update", "unchanged", "delete")


class AutomationChange(BaseModel):
    full_name: str  # the automation's name: the same key as a deployment row's
    action: Action
    package: str | None = None
    deployment: str | None = None  # the fleet deployment it runs or belongs to
    automation_id: str | None = None
    changes: dict[str, dict[str, Any]] = Field(default_factory=dict)  # field -> from/to
    reason: str | None = None

    def row(self, section: str) -> dict[str, Any]:
        """One `plan --output json` row; `changes` only for an update."""
        exclude = {"action"} | (set() if section == "update" else {"changes"})
        return self.model_dump(exclude_none=True, exclude=exclude)


class AutomationPlan(BaseModel):
    create: list[AutomationChange] = Field(default_factory=list)
    update: list[AutomationChange] = Field(default_factory=list)
    unchanged: list[AutomationChange] = Field(default_factory=list)
    delete: list[AutomationChange] = Field(default_factory=list)
    conflicts: list[AutomationChange] = Field(default_factory=list)
    # Kept for apply: the desired automations by name, and the ownership tags to stamp.
    desired: dict[str, DesiredAutomation] = Field(default_factory=dict, exclude=True)
    tags: dict[str, list[str]] = Field(default_factory=dict, exclude=True)

    @property
    def has_changes(self) -> bool:
        return bool(self.create or self.update or self.delete)

    @property
    def blockers(self) -> list[str]:
        return [f"automation '{c.full_name}': {c.reason}" for c in self.conflicts]

    def as_json(self) -> dict[str, list[dict[str, Any]]]:
        return {s: [c.row(s) for c in getattr(self, s)] for s in (*SECTIONS, "conflicts")}


def plan_automations(
    desired: list[DesiredAutomation],
    observed: list[ObservedAutomation],
    ids: Mapping[str, str],
    *,
    project: str,
    environment: str,
    branch: str | None = None,
    packages: set[str] | frozenset[str] = frozenset(),
    prune: bool = False,
    adopt: bool = False,
    failed_packages: set[str] | frozenset[str] = frozenset(),
    scope: frozenset[str] | None = None,
) -> AutomationPlan:
    """Compare desired automations with the server's. `ids`: deployment full name -> id
    on the server; `packages`: the packages deployed here (their removed automations go);
    `scope` (`--package`): only these packages' automations may be deleted."""
    plan = AutomationPlan()
    owned = {a.name: a for a in observed if a.owned_by(project, environment, branch)}
    unmanaged = {a.name: a for a in observed if not a.managed}
    for want in desired:
        if want.name in plan.desired:
            plan.conflicts.append(_row(want, "conflict", reason="two automations have this name"))
            continue
        plan.desired[want.name] = want
        plan.tags[want.name] = owner_tags(project, environment, want.package, branch)
        have = owned.get(want.name)
        if have is None and want.name in unmanaged:
            have = unmanaged[want.name]
            if not adopt:
                plan.conflicts.append(
                    _row(
                        want,
                        "conflict",
                        have,
                        reason="an automation with this name exists and is not managed by "
                        "flowfleet; flowfleet will not overwrite it (pass --adopt to take it over)",
                    )
                )
                continue
        if have is None:
            plan.create.append(_row(want, "create"))
            continue
        changes = diff(want, have, ids, plan.tags[want.name])
        getattr(plan, "update" if changes else "unchanged").append(
            _row(want, "update" if changes else "unchanged", have, changes=changes)
        )
    if failed_packages:
        return plan  # a package that failed to load could look like it removed its automations
    for name, have in sorted(owned.items()):
        if scope is not None and have.mark("package") not in scope:
            continue
        if name not in plan.desired and (prune or have.mark("package") in packages):
            plan.delete.append(_delete(have, "no longer declared"))
    return plan


def orphaned(
    observed: list[ObservedAutomation], deleted: set[str | None], project: str, environment: str
) -> list[AutomationChange]:
    """Deletes for this project's and environment's automations that run or belong to
    a deployment being deleted (`deleted`: ids): `prune` takes them with it."""
    rows = []
    deleted = deleted - {None}
    for have in observed:
        if not have.managed or have.mark("project") != project or have.mark("env") != environment:
            continue
        actions = [*(have.field("actions") or []), *(have.field("actions_on_trigger") or [])]
        if any(a.get("deployment_id") in deleted for a in actions if isinstance(a, dict)):
            rows.append(_delete(have, "its deployment is deleted"))
    return rows


def _delete(have: ObservedAutomation, reason: str) -> AutomationChange:
    return AutomationChange(
        full_name=have.name,
        action="delete",
        package=have.mark("package"),
        automation_id=have.id,
        reason=reason,
    )


def diff(
    want: DesiredAutomation, have: ObservedAutomation, ids: Mapping[str, str], tags: list[str]
) -> dict[str, dict[str, Any]]:
    changes: dict[str, dict[str, Any]] = {}
    for key in ("enabled", "description"):
        if getattr(want, key) != have.field(key):
            changes[key] = {"from": have.field(key), "to": getattr(want, key)}
    bound = _bind_known(want, ids)
    for key in ("trigger", "actions", "actions_on_trigger", "actions_on_resolve"):
        if not _covers(have.field(key), bound[key]):
            changes[key] = {"from": have.field(key), "to": bound[key]}
    tags_from = sorted(t for t in have.tags if not t.startswith("flowfleet.spec="))
    if tags_from != sorted(tags):
        changes["tags"] = {"from": tags_from, "to": sorted(tags)}
    want_hash = want.spec_hash(ids)
    if not changes and have.mark("spec") != want_hash:
        changes["spec"] = {"from": have.mark("spec"), "to": want_hash or "(new deployment ids)"}
    return changes


def _bind_known(want: DesiredAutomation, ids: Mapping[str, str]) -> dict[str, Any]:
    """The body's parts with known ids bound; an unknown one stays a reference."""
    known = {name: ids.get(name, f"<deployment:{name}>") for name in want.references()}
    return {
        "trigger": bind(want.trigger, known),
        "actions": bind(want.actions, known),
        "actions_on_trigger": bind(want.actions_on_trigger, known),
        "actions_on_resolve": bind(want.actions_on_resolve, known),
    }


def _covers(have: Any, want: Any) -> bool:
    """True when the server's value holds every key the code sets, equal; the server
    adds its own (ids, defaults), and lists of names come back in any order."""
    if isinstance(want, dict):
        return isinstance(have, dict) and all(
            _covers(have.get(k), v) for k, v in want.items() if k != "id"
        )
    if isinstance(want, list):
        if not isinstance(have, list) or len(have) != len(want):
            return False
        if all(isinstance(v, str) for v in want):
            return sorted(want) == sorted(have)
        return all(_covers(h, w) for h, w in zip(have, want, strict=True))
    if isinstance(want, int | float) and isinstance(have, int | float):
        return float(want) == float(have)
    return want == have


def _row(
    want: DesiredAutomation,
    action: Action,
    have: ObservedAutomation | None = None,
    **extra: Any,
) -> AutomationChange:
    return AutomationChange(
        full_name=want.name,
        action=action,
        package=want.package,
        deployment=want.deployment,
        automation_id=have.id if have else None,
        **extra,
    )
