"""A work pool's settings as an environment file declares them (`[pools.<key>]`).

`[pools]` maps an infra type's pool key to a pool name, as it always did
(`ecs = "ecs-prod"`); a key may instead be a table that also declares the pool:

    [pools.ecs]
    name = "ecs-prod"            # optional; default `<key>-<env>`
    concurrency_limit = 50
    template = "ecs-prod.json"   # optional base job template, beside the environment file
    [pools.ecs.variables]        # defaults of the template's job variables
    cluster = "prod"
    [pools.ecs.queues.critical]
    priority = 1
    concurrency_limit = 10

Only what is declared is compared and written: a variable's `default`, the limit, the
declared queues. With a `template` file, the file is the whole template.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PositiveInt

DEFAULT_POOL_NAME = "{type}-{env}"


class QueueSettings(BaseModel):
    """One work queue of a pool; Prefect's lower priority numbers are served first."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    priority: PositiveInt | None = None
    concurrency_limit: int | None = Field(default=None, ge=0)
    description: str | None = None


class PoolSettings(BaseModel):
    """A pool an environment declares; a bare name (`ecs = "ecs-prod"`) declares nothing."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = DEFAULT_POOL_NAME
    concurrency_limit: int | None = Field(default=None, ge=0)
    template: str | None = Field(
        default=None, description="a base job template (JSON) beside the environment file"
    )
    variables: dict[str, Any] = Field(default_factory=dict)
    queues: dict[str, QueueSettings] = Field(default_factory=dict)
    # The `template` file's content, read when the environment is loaded. Part of the
    # model, so the resolve cache (keyed on the environment's dump) sees a file change.
    template_content: dict[str, Any] | None = Field(default=None, exclude=False)

    @property
    def declares(self) -> bool:
        """True when anything beyond the name is declared: flowfleet then manages the pool."""
        return bool(
            self.concurrency_limit is not None or self.template or self.variables or self.queues
        )

    def merged_template(self, base: dict[str, Any] | None) -> dict[str, Any]:
        """The declared template (the file, else `base`) with the declared defaults set.

        `job_configuration` and every undeclared variable are kept as they are.
        """
        template = copy.deepcopy(self.template_content or base or {})
        properties = template.setdefault("variables", {}).setdefault("properties", {})
        for name, value in self.variables.items():
            properties.setdefault(name, {})["default"] = value
        return template

    def unknown_variables(self, template: dict[str, Any] | None) -> list[str]:
        """Declared variables the template does not have (the worker would ignore them)."""
        if not template:
            return []
        known = template.get("variables", {}).get("properties", {})
        return [name for name in self.variables if name not in known]


def as_settings(value: str | dict[str, Any] | PoolSettings) -> PoolSettings:
    """`ecs = "ecs-prod"` and `[pools.ecs]` tables alike, as settings."""
    if isinstance(value, str):
        return PoolSettings(name=value)
    return value if isinstance(value, PoolSettings) else PoolSettings.model_validate(value)


def read_template(folder: Path, file_name: str) -> dict[str, Any]:
    """A base job template file beside the environment file; ValueError names what is wrong."""
    path = (folder / file_name).resolve()
    if path.parent != folder.resolve() or not path.name.endswith(".json"):
        raise ValueError(f"'{file_name}' must be a .json file beside the environment file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"no file {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path.name} is not valid JSON ({exc})") from None
    check_template(data, path.name)
    return data


def check_template(data: Any, label: str) -> None:
    """Prefect's own rule: `job_configuration` and `variables`, every placeholder declared."""
    if not isinstance(data, dict) or not isinstance(data.get("job_configuration"), dict):
        raise ValueError(
            f"{label} is not a base job template: it needs a 'job_configuration' object "
            "and a 'variables' object (start from `prefect work-pool get-default-base-job-"
            "template --type <type>`)"
        )
    # The server's `validate_base_job_template`, restated: importing prefect.server's
    # schemas costs about 2 s more than `import prefect`, on every command.
    from prefect.utilities.templating import find_placeholders

    variables = data.get("variables")
    if not isinstance(variables, dict):
        raise ValueError(f"{label} is not a base job template: it has no 'variables' object")
    used = {p.name for p in find_placeholders(json.dumps(data["job_configuration"]))}
    missing = sorted(used - set(variables.get("properties", {})))
    if missing:
        raise ValueError(
            f"{label} is not a base job template: its job_configuration uses "
            f"{', '.join(missing)}, which its variables do not declare"
        )
