"""What the Prefect server would refuse, refused while resolving: one line each.

A value the server rejects must not get as far as `deploy`, where it fails after the
flow was created, mid-run: `validate` and `plan` report it like any other problem.

- Flow, deployment and work-pool names: Prefect's own pattern (`prefect.types.names`:
  none of `/ % & > <`), and not empty.
- Parameters and job variables are stored as JSON: only str, int, finite float,
  bool, None, lists and dicts with string keys. Tuples become lists and sets (and
  frozensets) sorted lists, so a set converges instead of changing order every run;
  anything else is a problem naming the parameter.
- An interval schedule shorter than MIN_INTERVAL_SECONDS is a problem unless the
  config says `allow_short_interval=True`: the scheduler would create hundreds of
  runs an hour.
- `version_info`: the server takes it and keeps none of it (measured on 3.9.1: the
  upsert leaves it out of the row, and a read has no `version_info`), so it would show
  as drift on every plan.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from flowfleet.config import DeploymentConfig
from flowfleet.desired import DesiredDeployment

MIN_INTERVAL_SECONDS = 60
# prefect.types.names.BANNED_CHARACTERS, copied so a cached run need not import prefect;
# tests/test_acceptance.py keeps the two equal.
BANNED_CHARACTERS = "/%&><"
NAME_FIX = "use a name without any of / % & > <"


class NotJson(ValueError):
    """A value the server cannot store as JSON, with where it is inside the parameter."""

    def __init__(self, where: str, value: Any):
        self.where = where
        super().__init__(f"{type(value).__name__} value{where} is not JSON")


def name_problem(name: str) -> str | None:
    """Why the server would refuse `name` as a flow, deployment or pool name; None if fine."""
    if not name.strip():
        return "is empty"
    if not re.fullmatch(rf"[^{re.escape(BANNED_CHARACTERS)}]+", name):
        found = " ".join(sorted({c for c in name if c in BANNED_CHARACTERS}))
        return f"contains {found}, which the Prefect server refuses in names"
    return None


def canonical_json(value: Any, where: str = "") -> Any:
    """`value` as the JSON the server stores, sets as sorted lists; raises NotJson."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise NotJson(where, value)
        return value
    if isinstance(value, list | tuple):
        return [canonical_json(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, set | frozenset):
        items = [canonical_json(v, f"{where}[]") for v in value]
        try:
            return sorted(items)
        except TypeError:
            raise NotJson(where, value) from None
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise NotJson(f"{where} key {key!r}", key)
            out[key] = canonical_json(item, f"{where}.{key}")
        return out
    raise NotJson(where, value)


Report = Callable[..., None]  # problem(message, field, fix)


def check(deployment: DesiredDeployment, config: DeploymentConfig, problem: Report) -> bool:
    """Report what the server would refuse; canonicalise parameters in place. True if fine."""
    ok = True
    for field_name, value in (
        ("flow name", deployment.flow),
        ("name", deployment.name),
        ("work_pool", deployment.work_pool),
    ):
        why = name_problem(value)
        if why:
            problem(f"{field_name} '{value}' {why}", field_name, NAME_FIX)
            ok = False
    for attribute in ("parameters", "job_variables"):
        values = dict(getattr(deployment, attribute))
        for key, value in values.items():
            try:
                values[key] = canonical_json(value)
            except NotJson as exc:
                problem(
                    f"{exc}; the server stores {attribute} as JSON",
                    f"{attribute}.{key}",
                    "pass str, int, float, bool, None, or lists and dicts of them "
                    "(build the object inside the flow)",
                )
                ok = False
        setattr(deployment, attribute, values)
    if getattr(config, "version_info", None) is not None:
        problem(
            "version_info is dropped by the Prefect server (3.9.1) when a deployment is "
            "written, so flowfleet cannot keep it",
            "version_info",
            "remove it; put the version in `version` (and a commit in `labels`)",
        )
        ok = False
    if getattr(config, "allow_short_interval", False):
        return ok
    for schedule in deployment.schedules:
        if schedule.interval is not None and schedule.interval < MIN_INTERVAL_SECONDS:
            problem(
                f"interval of {schedule.interval:g}s is shorter than {MIN_INTERVAL_SECONDS}s: "
                f"the server would start a run every {schedule.interval:g}s",
                "interval",
                f"use at least {MIN_INTERVAL_SECONDS}s, or set allow_short_interval=True",
            )
            ok = False
    return ok
