"""The declared work pools' part of the plan: compare, and say what changes. Pure.

Only what the environment declares is compared: each declared variable's default,
the pool's concurrency limit, the declared queues' fields, and, with a template file,
the whole template. A pool another owner made is a conflict unless `--adopt`.
"""

from __future__ import annotations

from urllib.parse import quote

from flowfleet.changes import FieldChange, PoolChange
from flowfleet.pool_spec import PoolSpec, QueueSpec

QUEUE_FIELDS = tuple(QueueSpec.model_fields)


def pool_path(name: str) -> str:
    return f"/work_pools/{quote(name, safe='')}"


def diff_pool(want: PoolSpec, have: PoolSpec) -> dict[str, FieldChange]:
    """The declared parts of `want` that differ on the server, as from/to pairs."""
    settings = want.settings
    if settings is None:
        return {}
    changes: dict[str, FieldChange] = {}
    want_template, have_template = want.base_job_template, have.base_job_template
    have_props = have_template.get("variables", {}).get("properties", {})
    if settings.template_content is not None:  # the file is the whole template
        want_props = want_template.get("variables", {}).get("properties", {})
        if want_template.get("job_configuration") != have_template.get("job_configuration"):
            changes["job_configuration"] = FieldChange(
                from_=have_template.get("job_configuration"),
                to=want_template.get("job_configuration"),
            )
        for name in sorted({*want_props, *have_props}):
            if want_props.get(name) != have_props.get(name):
                changes[f"variables.{name}"] = FieldChange(
                    from_=have_props.get(name), to=want_props.get(name)
                )
    else:
        for name, value in settings.variables.items():
            current = have_props.get(name, {}).get("default")
            if current != value:
                changes[f"variables.{name}"] = FieldChange(from_=current, to=value)
    limit = settings.concurrency_limit
    if limit is not None and have.concurrency_limit != limit:
        changes["concurrency_limit"] = FieldChange(from_=have.concurrency_limit, to=limit)
    for name, queue in want.queues.items():
        found = have.queues.get(name)
        declared = queue.model_dump(exclude_none=True)
        if found is None:
            changes[f"queues.{name}"] = FieldChange(from_=None, to=declared)
            continue
        for field, value in declared.items():
            if getattr(found, field) != value:
                changes[f"queues.{name}.{field}"] = FieldChange(
                    from_=getattr(found, field), to=value
                )
    return changes


def plan_pool(
    want: PoolSpec, have: PoolSpec | None, *, project: str, environment: str, adopt: bool
) -> PoolChange:
    """One declared pool's row: create, update, unchanged, or a conflict."""
    if have is None:
        return PoolChange(name=want.name, action="create", type=want.type)
    if have.type != want.type:  # reported as a blocker by the deployment plan
        return PoolChange(
            name=want.name,
            action="conflict",
            type=want.type,
            reason=f"has type '{have.type}', needs '{want.type}'",
        )
    changes = diff_pool(want, have)
    owner = have.owner()
    if owner != (project, environment):
        whose = (
            "not managed by flowfleet"
            if owner is None
            else f"managed by project '{owner[0]}', environment '{owner[1]}'"
        )
        if not adopt:
            return PoolChange(
                name=want.name,
                action="conflict",
                type=want.type,
                reason=f"exists and is {whose}; flowfleet will not rewrite it "
                "(pass --adopt to take it over)",
            )
        changes["owner"] = FieldChange(from_=whose, to=f"project {project}, env {environment}")
    action = "update" if changes else "unchanged"
    return PoolChange(name=want.name, action=action, type=want.type, changes=changes)


def plan_pools(
    wanted: list[PoolSpec],
    observed: dict[str, PoolSpec],
    *,
    project: str,
    environment: str,
    adopt: bool = False,
) -> list[PoolChange]:
    return [
        plan_pool(w, observed.get(w.name), project=project, environment=environment, adopt=adopt)
        for w in wanted
        if w.declared
    ]
