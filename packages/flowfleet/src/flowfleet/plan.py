"""The plan: what `deploy` would change, as data. Rendering lives in `render.py`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field
from pydantic_core import to_jsonable_python

from flowfleet import desired as ownership
from flowfleet import gitstorage, pruning
from flowfleet.automation_plan import AutomationPlan
from flowfleet.changes import FieldChange, PoolChange
from flowfleet.desired import DesiredDeployment
from flowfleet.observed import ObservedDeployment, ServerState
from flowfleet.spec import COMPARED, OPTIONAL, UNSET_NOT_COMPARED, schedule_key

Action = Literal["create", "update", "unchanged", "delete", "conflict", "kept"]

OWNERSHIP_LABELS = (
    ownership.MANAGED,
    ownership.PROJECT,
    ownership.ENV,
    ownership.PACKAGE,
    ownership.BRANCH,
)


class Change(BaseModel):
    full_name: str
    action: Action
    package: str | None = None
    work_pool: str | None = None
    storage: str | None = None  # "image", "git" or "local"
    commit: str | None = None  # git storage: the pinned commit
    runs: str | None = None  # what runs its code (see worker_images); set by the engine
    deployment_id: str | None = None
    changes: dict[str, FieldChange] = Field(default_factory=dict)
    reason: str | None = None

    def changes_json(self) -> dict[str, dict[str, Any]]:
        """`{"field": {"from": ..., "to": ...}}`, as `plan --output json` shows them."""
        return {name: change.pair() for name, change in self.changes.items()}

    @classmethod
    def deletion(cls, have: ObservedDeployment, reason: str) -> Change:
        """Delete a deployment the server holds, as a plan row."""
        return cls(
            full_name=have.full_name,
            action="delete",
            package=have.package,
            deployment_id=have.id,
            work_pool=have.spec.work_pool,
            commit=gitstorage.describe(have.spec.pull_steps)[1],
            reason=reason,
        )


class Plan(BaseModel):
    environment: str
    project: str
    api_url: str
    create: list[Change] = Field(default_factory=list)
    update: list[Change] = Field(default_factory=list)
    unchanged: list[Change] = Field(default_factory=list)
    delete: list[Change] = Field(default_factory=list)
    conflicts: list[Change] = Field(default_factory=list)
    missing_pools: dict[str, str] = Field(default_factory=dict)  # name -> needed type
    wrong_pools: dict[str, str] = Field(default_factory=dict)  # name -> "has X, needs Y"
    prune_refused: str | None = None
    automations: AutomationPlan = Field(default_factory=AutomationPlan)  # automation_plan.py
    not_declared: list[Change] = Field(default_factory=list)  # kept: planned without --prune
    broken: dict[str, list[str]] = Field(default_factory=dict)  # package -> why it did not load
    pools: list[PoolChange] = Field(default_factory=list)  # declared pools (pool_plan.py)

    @property
    def has_changes(self) -> bool:
        pools = any(p.action in ("create", "update") for p in self.pools)
        return bool(
            self.create or self.update or self.delete or pools or self.automations.has_changes
        )

    @property
    def blockers(self) -> list[str]:
        """Reasons `deploy` must not write anything."""
        lines = [
            f"work pool '{name}' does not exist on {self.api_url}; create it with "
            f"`flowfleet pools --env {self.environment}` (type {kind})"
            for name, kind in sorted(self.missing_pools.items())
        ]
        lines += [f"work pool '{name}' {why}" for name, why in sorted(self.wrong_pools.items())]
        lines += [f"{c.full_name}: {c.reason}" for c in self.conflicts]
        lines += self.automations.blockers
        lines += [f"work pool '{p.name}': {p.reason}" for p in self.pools if p.action == "conflict"]
        if self.prune_refused:
            lines.append(self.prune_refused)
        return lines


def _jsonable(value: Any) -> Any:
    return to_jsonable_python(value)


def diff(want: DesiredDeployment, have: ObservedDeployment) -> dict[str, FieldChange]:
    """The fields that differ between the desired spec and the server, as from/to pairs."""
    desired_spec = _jsonable(want.spec().as_dict())
    observed_spec = have.spec_dict()
    observed_spec["schedules"] = _without_server_anchor(
        observed_spec["schedules"], desired_spec["schedules"]
    )
    changes = {}
    for key in COMPARED:
        if key in UNSET_NOT_COMPARED and desired_spec.get(key) is None:
            continue  # the code leaves it to the server
        have_value = _jsonable(observed_spec.get(key, OPTIONAL.get(key)))
        want_value = desired_spec.get(key, OPTIONAL.get(key))
        if key == "schedules":
            schedule_change = _schedule_change(have_value, want_value)
            if schedule_change is not None:
                changes[key] = schedule_change
        elif have_value != want_value:
            changes[key] = FieldChange(from_=have_value, to=want_value)
    if "pull_steps" in changes:  # name the commit move, which the steps' text hides
        (mode_from, commit_from), (mode_to, commit_to) = (
            gitstorage.describe(have.spec.pull_steps),
            gitstorage.describe(want.pull_steps),
        )
        if mode_from != mode_to:
            changes["storage"] = FieldChange(from_=mode_from, to=mode_to)
        if commit_from != commit_to:
            changes["commit"] = FieldChange(from_=commit_from, to=commit_to)
    labels_from = {k: have.labels.get(k) for k in OWNERSHIP_LABELS if have.labels.get(k)}
    labels_to = {k: want.labels.get(k) for k in OWNERSHIP_LABELS if want.labels.get(k)}
    if labels_from != labels_to:
        changes["labels"] = FieldChange(from_=labels_from, to=labels_to)
    if not changes and have.labels.get(ownership.SPEC) != want.labels.get(ownership.SPEC):
        # Something only the hash sees changed, such as the flow's signature.
        changes["spec"] = FieldChange(
            from_=have.labels.get(ownership.SPEC), to=want.labels.get(ownership.SPEC)
        )
    return changes


def _schedule_change(have: list[dict[str, Any]], want: list[dict[str, Any]]) -> FieldChange | None:
    """Schedules compared as a set keyed by slug (else content): only the ones that
    differ are shown, `from` what the server holds and `to` what the code wants."""
    have_by_key = {schedule_key(s): s for s in have}
    want_by_key = {schedule_key(s): s for s in want}
    keys = [k for k in {**have_by_key, **want_by_key} if have_by_key.get(k) != want_by_key.get(k)]
    if not keys:
        return None
    return FieldChange(
        from_=[have_by_key[k] for k in keys if k in have_by_key],
        to=[want_by_key[k] for k in keys if k in want_by_key],
    )


def _without_server_anchor(
    observed: list[dict[str, Any]], desired: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Drop the DTSTART line the server adds to an rrule that was written without one."""
    if any("DTSTART" in (d.get("rrule") or "") for d in desired):
        return observed
    return [
        {
            **s,
            "rrule": "\n".join(
                line for line in s["rrule"].splitlines() if not line.startswith("DTSTART")
            ),
        }
        if s.get("rrule")
        else s
        for s in observed
    ]


def make_plan(
    desired: list[DesiredDeployment],
    state: ServerState,
    *,
    environment: str,
    project: str,
    prune: bool = False,
    adopt: bool = False,
    failed_packages: set[str] | frozenset[str] = frozenset(),
    prune_scope: Any = None,
) -> Plan:
    """Compare desired with the server. Never plans to touch what this project does not own.

    `prune_scope(observed) -> bool` narrows which managed deployments pruning may
    consider (branch deployments and `--package` use it); by default, all of this
    environment's. `failed_packages`' deployments are never candidates (pruning.py).
    """
    plan = Plan(environment=environment, project=project, api_url=state.api_url)
    for want in desired:
        base = dict(
            full_name=want.full_name,
            package=want.package,
            work_pool=want.work_pool,
            storage=want.storage,
            commit=want.commit,
        )
        have = state.deployments.get(want.full_name)
        if have is None:
            plan.create.append(Change(action="create", **base))
            continue
        owner = _foreign_owner(have, project, environment) or _other_lane(have, want)
        if owner and not adopt:
            plan.conflicts.append(
                Change(
                    action="conflict",
                    deployment_id=have.id,
                    reason=(
                        f"a deployment with this name already exists and is {owner}; "
                        "flowfleet will not overwrite it (pass --adopt to take it over)"
                    ),
                    **base,
                )
            )
            continue
        changes = diff(want, have)
        if owner:
            changes.setdefault("labels", FieldChange(from_={}, to={}))
        action = "update" if changes else "unchanged"
        getattr(plan, action).append(
            Change(action=action, deployment_id=have.id, changes=changes, **base)
        )

    _check_pools(plan, desired, state)
    _plan_prune(plan, desired, state, project, environment, failed_packages, prune_scope, prune)
    return plan


def _foreign_owner(have: ObservedDeployment, project: str, environment: str) -> str | None:
    if have.labels.get(ownership.MANAGED) != "true":
        return "not managed by flowfleet"
    if have.labels.get(ownership.PROJECT) != project:
        return f"managed by project '{have.labels.get(ownership.PROJECT)}'"
    if have.environment != environment:
        return (
            f"managed by environment '{have.environment}' (environments that share a server "
            f'need their own names: set deployment_name = "{{name}}-{{env}}" in '
            f"infra/environments/{environment}.toml)"
        )
    return None


def _other_lane(have: ObservedDeployment, want: DesiredDeployment) -> str | None:
    """A same-named deployment of another branch (or of the mainline) is not ours to write."""
    wanted = want.labels.get(ownership.BRANCH)
    if have.branch == wanted:
        return None
    return f"owned by branch '{have.branch}'" if have.branch else "owned by the default branch"


def _check_pools(plan: Plan, desired: list[DesiredDeployment], state: ServerState) -> None:
    for want in desired:
        kind = state.pools.get(want.work_pool)
        if kind is None:
            plan.missing_pools[want.work_pool] = want.pool_type
        elif kind != want.pool_type:
            plan.wrong_pools[want.work_pool] = (
                f"has type '{kind}' but {want.full_name} needs '{want.pool_type}'"
            )


def _plan_prune(
    plan: Plan,
    desired: list[DesiredDeployment],
    state: ServerState,
    project: str,
    environment: str,
    failed: set[str] | frozenset[str],
    scope: Any,
    prune: bool,
) -> None:
    """Deletes with `prune`; without it, the same deployments listed as kept."""
    plan.prune_refused = pruning.refusal(failed) if prune else None
    gone = pruning.undeclared(
        desired, state, project=project, environment=environment, failed=failed, scope=scope
    )
    if prune and not plan.prune_refused:
        plan.delete = [Change.deletion(have, "no longer declared") for have in gone]
    elif not prune:
        kept = [Change.deletion(have, pruning.KEPT) for have in gone]
        plan.not_declared = [c.model_copy(update={"action": "kept"}) for c in kept]
