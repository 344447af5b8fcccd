"""Environments: one TOML file each under `infra/environments/`."""

from __future__ import annotations

import difflib
import os
import re
import string
import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from flowfleet import naming
from flowfleet.pool_settings import DEFAULT_POOL_NAME, PoolSettings, read_template
from flowfleet.problems import FlowfleetError, Problem

POOL_PLACEHOLDERS = ("env", "type", "package")
ENVIRONMENT_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")


def _pool_table(value: object) -> object:
    """`ecs = "ecs-prod"` is the table `{name = "ecs-prod"}`: one model for both forms."""
    if isinstance(value, dict) and "template_content" in value:
        raise ValueError("'template_content' is filled from 'template'; name a file there")
    if isinstance(value, str):
        return {"name": value}
    if not isinstance(value, dict):
        raise ValueError("Input should be a valid string (a pool name) or a table of settings")
    return value


class Environment(BaseModel):
    """Where and how one environment's deployments go.

    Credentials are never read from here: `PREFECT_API_KEY` comes from the process
    environment, and `PREFECT_API_URL` there wins over `api_url`.
    """

    model_config = ConfigDict(extra="forbid")

    name: str
    api_url: str | None = None
    image_registry: str | None = None
    default_infra: str | None = None
    pools: dict[str, Annotated[PoolSettings, BeforeValidator(_pool_table)]] = Field(
        default_factory=dict,
        description="infra type -> work pool name (may use {env}, {type} and {package}), "
        "or a table declaring the pool's settings (see flowfleet.pool_settings)",
    )
    single_pool: str | None = Field(
        default=None,
        description="run every deployment on this one process pool (a laptop)",
    )
    branches: list[str] | None = None
    default_branch: str = "main"
    branch_deployments: bool = False
    # Git storage (see flowfleet.gitstorage): a package's own `storage` wins over this.
    storage: Literal["image", "git"] = "image"
    git_repository: str | None = Field(
        default=None, description="clone URL for git storage; default: `git remote get-url origin`"
    )
    git_credentials_block: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9-]+(/[a-z0-9-]+)?$",
        description="a Secret block name, or `<block-type>/<name>` of a credentials block",
    )
    base_image: str | None = Field(
        default=None, description="the shared runtime image of git-storage deployments"
    )
    deployment_name: str = Field(
        default=naming.DEFAULT,
        description="names on the server: {name}, {env}, {branch}; e.g. '{name}-{env}' "
        "lets environments share one server",
    )

    @field_validator("deployment_name")
    @classmethod
    def _name_pattern(cls, value: str) -> str:
        return naming.check_pattern(value)

    @field_validator("git_repository")
    @classmethod
    def _no_inline_credentials(cls, value: str | None) -> str | None:
        if value and re.match(r"^[a-z][a-z0-9+.-]*://[^/@]*:[^/@]*@", value, re.I):
            raise ValueError(
                "must not carry credentials; name a block in git_credentials_block instead"
            )
        return value

    @field_validator("single_pool")
    @classmethod
    def _single_pool_name(cls, value: str | None) -> str | None:
        from flowfleet.acceptance import NAME_FIX, name_problem

        why = name_problem(value) if value is not None else None
        if why:
            raise ValueError(f"pool name {why} ({NAME_FIX})")
        return value

    @field_validator("pools")
    @classmethod
    def _known_placeholders(cls, pools: dict[str, PoolSettings]) -> dict[str, PoolSettings]:
        from flowfleet.acceptance import NAME_FIX, name_problem

        for key, settings in pools.items():
            template = settings.name
            why = name_problem(template)
            if why:
                raise ValueError(f"pool name for '{key}' {why} ({NAME_FIX})")
            for _, field_name, _, _ in string.Formatter().parse(template):
                if field_name is not None and field_name not in POOL_PLACEHOLDERS:
                    raise ValueError(
                        f"pool name '{template}' uses {{{field_name}}}; "
                        f"known placeholders: {', '.join('{' + p + '}' for p in POOL_PLACEHOLDERS)}"
                    )
        return pools

    def pool_for(self, pool_key: str, package: str) -> str:
        if self.single_pool:
            return self.single_pool
        settings = self.pools.get(pool_key)
        template = settings.name if settings else DEFAULT_POOL_NAME
        return template.format(type=pool_key, env=self.name, package=package)

    def effective_api_url(self) -> str | None:
        return os.environ.get("PREFECT_API_URL") or self.api_url


def environment_names(folder: Path) -> list[str]:
    return sorted(p.stem for p in folder.glob("*.toml"))


def load_environment(folder: Path, name: str) -> Environment:
    """Read `<folder>/<name>.toml`; any problem names the file and, where known, the line.

    The name is checked before any file is touched: `--env ../../x` reads nothing.
    """
    if not ENVIRONMENT_NAME.fullmatch(name):
        raise FlowfleetError(
            Problem(
                f"environment name {name!r} is not allowed",
                fix="use lower-case letters, digits, '-' and '_', starting with a letter "
                "or digit (the name of a file in infra/environments/)",
            )
        )
    path = folder / f"{name}.toml"
    if not path.is_file():
        known = ", ".join(environment_names(folder)) or "none"
        raise FlowfleetError(
            Problem(
                f"unknown environment '{name}': no file {path} (known: {known})",
                fix=f"pick a known environment or create {path.name}",
            )
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise FlowfleetError(
            Problem(f"{path}: not UTF-8 (byte {exc.start})", fix="save the file as UTF-8")
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"at line (\d+)", str(exc))
        at = f"{path}:{line.group(1)}" if line else str(path)
        raise FlowfleetError(Problem(f"malformed TOML: {exc}", source=at)) from None
    if "name" in data:
        at = f"{path}:{_line_of(text, 'name')}"
        raise FlowfleetError(
            Problem(
                "key 'name' is not allowed",
                fix="remove it: the file name names the environment",
                source=at,
            )
        )
    try:
        return _with_templates(Environment(name=name, **data), path, text)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            key = ".".join(str(p) for p in error["loc"])
            line = _line_of(text, str(error["loc"][0]))
            at = f"{path}:{line}" if line else str(path)
            if error["type"] == "extra_forbidden":
                known = [f for f in Environment.model_fields if f != "name"]
                close = difflib.get_close_matches(key, known, n=1)
                lines.append(
                    Problem(
                        f"unknown key '{key}' (known: {', '.join(known)})",
                        fix=f"did you mean '{close[0]}'?" if close else None,
                        source=at,
                    )
                )
            else:
                message = error["msg"].removeprefix("Value error, ")
                lines.append(Problem(f"key '{key}': {message}", source=at))
        raise FlowfleetError(*lines) from None


def _with_templates(environment: Environment, path: Path, text: str) -> Environment:
    """Read each declared pool's `template` file; a bad one is one line naming both files."""
    pools = dict(environment.pools)
    for key, settings in pools.items():
        if settings.template:
            try:
                content = read_template(path.parent, settings.template)
            except ValueError as exc:
                line = _line_of(text, "template") or _line_of(text, f"pools.{key}")
                raise FlowfleetError(
                    Problem(
                        f"key 'pools.{key}.template': {exc}",
                        fix="give a base job template file (JSON) beside the environment file",
                        source=f"{path}:{line}" if line else str(path),
                    )
                ) from None
            pools[key] = settings.model_copy(update={"template_content": content})
    return environment.model_copy(update={"pools": pools})


def _line_of(text: str, key: str) -> int | None:
    pattern = re.compile(rf"^\s*(\[{re.escape(key)}[].]|{re.escape(key)}\s*=)")
    for number, line in enumerate(text.splitlines(), start=1):
        if pattern.match(line):
            return number
    return None
