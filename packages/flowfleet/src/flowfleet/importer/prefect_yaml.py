"""Read a prefect.yaml into `ExistingDeployment` records.

YAML anchors and aliases are resolved by the loader, as `prefect deploy` does:
they are plain values by the time a deployment is mapped. `{{ }}` templates are
left as text; the mapping reports the ones it cannot resolve.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flowfleet.importer.existing import ExistingDeployment, ExistingSchedule
from flowfleet.problems import FlowfleetError, Problem

# Keys `prefect deploy` reads that need no flowfleet field: flowfleet builds, pushes
# and pulls the package's image (or git checkout) itself.
STORAGE_KEYS = {"build", "push", "pull", "enforce_parameter_schema", "version_type"}
KNOWN_KEYS = {
    "name",
    "entrypoint",
    "flow_name",
    "description",
    "version",
    "tags",
    "parameters",
    "schedule",
    "schedules",
    "paused",
    "concurrency_limit",
    "work_pool",
    "triggers",
    *STORAGE_KEYS,
}


def read_prefect_yaml(path: Path) -> list[ExistingDeployment]:
    """Every deployment in `path`; a missing or malformed file is one clear line."""
    import yaml

    if not path.is_file():
        raise FlowfleetError(
            Problem(f"{path}: no such file", fix="pass the path of your prefect.yaml to --from")
        )
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise FlowfleetError(Problem(f"{at}: invalid YAML: {reason}")) from None
    deployments = data.get("deployments") if isinstance(data, dict) else None
    if not isinstance(deployments, list):
        raise FlowfleetError(
            Problem(
                f"{path}: no `deployments:` list",
                fix="point --from at a prefect.yaml with a `deployments:` list",
            )
        )
    found = []
    for index, entry in enumerate(deployments):
        origin = f"{path.name} deployments[{index}]"
        if not isinstance(entry, dict) or not entry.get("name"):
            raise FlowfleetError(
                Problem(f"{origin}: a deployment needs a mapping with a `name`", fix="add one")
            )
        found.append(_deployment(entry, origin))
    return found


def _deployment(entry: dict[str, Any], origin: str) -> ExistingDeployment:
    pool = entry.get("work_pool") or {}
    if not isinstance(pool, dict):
        pool = {"name": pool}
    schedules = entry.get("schedules")
    if schedules is None and isinstance(entry.get("schedule"), dict):
        schedules = [entry["schedule"]]  # the older single-schedule key
    return ExistingDeployment(
        name=str(entry["name"]),
        entrypoint=entry.get("entrypoint"),
        origin=origin,
        flow=entry.get("flow_name"),
        description=entry.get("description"),
        version=None if entry.get("version") is None else str(entry["version"]),
        tags=list(entry.get("tags") or []),
        parameters=dict(entry.get("parameters") or {}),
        schedules=[
            ExistingSchedule.from_dict(s, keep_anchor=True)
            for s in schedules or []
            if isinstance(s, dict)
        ],
        paused=bool(entry.get("paused")),
        concurrency_limit=entry.get("concurrency_limit"),
        work_pool=pool.get("name"),
        work_queue=pool.get("work_queue_name"),
        job_variables=dict(pool.get("job_variables") or {}),
        triggers=list(entry.get("triggers") or []),
        unsupported={k: v for k, v in entry.items() if k not in KNOWN_KEYS},
    )
