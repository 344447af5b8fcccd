"""Job variables checked against the pool's base job template, before any server call.

The template's `variables` section is a JSON schema: the server drops a key it does
not declare without a word, and a wrong type fails only at deploy or run time. This
module checks a deployment's job variables against that schema with `jsonschema`, then
runs the infra type's own rules (`InfraConfig.check_job`) on the template's defaults
with the job variables laid over them, which is what the worker will see.

The template is the stock one of the pool type's worker (prefect-aws's for `ecs`,
prefect-kubernetes's for `kubernetes`, Prefect's process worker, prefect-docker's).
"""

from __future__ import annotations

import difflib
import os
import sys
from functools import cache
from typing import Any

import flowfleet
from flowfleet import secrets
from flowfleet.infra.base import InfraConfig, JobProblem

_FLOWFLEET = os.path.dirname(flowfleet.__file__) + os.sep  # keyed by its files on disk
JSON_TYPES = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
    type(None): "null",
}


def worker_template(pool_type: str) -> dict[str, Any] | None:
    """The stock template of the built-in stateful workers (process, docker)."""
    if pool_type == "process":
        from prefect.workers.process import ProcessWorker

        return ProcessWorker.get_default_base_job_template()
    if pool_type == "docker":
        try:
            from prefect_docker.worker import DockerWorker
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise RuntimeError(
                "the docker pool template comes from prefect-docker; install flowfleet[docker]"
            ) from exc
        return DockerWorker.get_default_base_job_template()
    return None


# Stock templates made by installed code, by `stock_name`: seeded from disk at the
# session's boundary (template_store.py), so a process that finds one here never
# imports the worker package that makes it.
_known: dict[str, dict[str, Any] | None] = {}


def stock_name(infra_type: type[InfraConfig], pool_type: str) -> str:
    return f"{infra_type.__module__}.{infra_type.__qualname__} {pool_type}"


def learn(templates: dict[str, dict[str, Any] | None]) -> None:
    _known.update(templates)


def learned() -> dict[str, dict[str, Any] | None]:
    return dict(_known)


@cache
def _stock(infra_type: type[InfraConfig], pool_type: str) -> dict[str, Any] | None:
    # Built once per process: generating a worker's template costs tens of ms. Without
    # the worker's package (a deploy host without prefect-aws) there is nothing to check.
    name = stock_name(infra_type, pool_type)
    if name in _known:
        return _known[name]
    try:
        if pool_type in ("process", "docker"):
            template = worker_template(pool_type)
        elif infra_type.pool_type == pool_type:
            template = infra_type.base_job_template()
        else:
            template = None
    except (ImportError, RuntimeError):
        template = None
    if _made_by_installed_code(infra_type):  # an infra type in the workspace may change
        _known[name] = template
    return template


def _made_by_installed_code(infra_type: type[InfraConfig]) -> bool:
    from flowfleet import imports

    file = getattr(sys.modules.get(infra_type.__module__), "__file__", None) or ""
    return imports.installed(file) or file.startswith(_FLOWFLEET)


def stock_template(infra_type: type[InfraConfig], pool_type: str) -> dict[str, Any] | None:
    """The stock template of the pool a deployment of `infra_type` lands on, None if unknown."""
    return _stock(infra_type, pool_type)


def template_defaults(template: dict[str, Any]) -> dict[str, Any]:
    """The variables' non-null defaults: what the worker uses for a key nobody set."""
    from prefect.workers.base import BaseJobConfiguration

    return BaseJobConfiguration._get_base_config_defaults(
        template.get("variables", {}).get("properties", {})
    )


def check_job(
    infra: InfraConfig,
    pool_type: str,
    job_variables: dict[str, Any],
    template: dict[str, Any] | None = None,
) -> list[JobProblem]:
    """Every problem the worker or the server would find in these job variables.

    `template`: the pool's declared template (see pool_checks.py); default the stock one.
    """
    template = template or stock_template(type(infra), pool_type)
    if not template:
        return []
    problems = check_schema(job_variables, template, pool_type)
    if not problems and type(infra).pool_type == pool_type:
        problems = type(infra).check_job({**template_defaults(template), **job_variables})
    return problems


def check_schema(
    job_variables: dict[str, Any], template: dict[str, Any], pool_type: str
) -> list[JobProblem]:
    """Unknown keys (with a did-you-mean) and values of the wrong type, one problem each."""
    from jsonschema.exceptions import best_match

    schema = template.get("variables", {})
    properties: dict[str, Any] = schema.get("properties", {})
    problems = []
    for key, value in job_variables.items():
        name = key.split(".", 1)[0]  # Prefect accepts "env.FOO" for a nested key
        if name not in properties:
            close = difflib.get_close_matches(name, list(properties), n=1)
            problems.append(
                JobProblem(
                    key,
                    f"'{name}' is not a job variable of the {pool_type} pool's template; "
                    "the server would drop it without a word",
                    f"did you mean '{close[0]}'?"
                    if close
                    else f"use one of: {', '.join(sorted(properties))}",
                )
            )
            continue
        if name != key:
            continue
        error = best_match(_validator(schema, name).iter_errors(value))
        if error is not None:
            problems.append(_type_problem(key, value, error, properties[name]))
    return problems


_VALIDATORS: dict[int, tuple[Any, Any]] = {}  # id(property schema) -> (it, its validator)


def _validator(schema: dict[str, Any], name: str) -> Any:
    """One variable's validator, built once per template (a fleet has thousands of checks)."""
    from jsonschema import Draft202012Validator

    prop = schema["properties"][name]
    cached = _VALIDATORS.get(id(prop))
    if cached is None or cached[0] is not prop:
        subschema = {
            **prop,
            "definitions": schema.get("definitions", {}),
            "$defs": schema.get("$defs", {}),
        }
        cached = _VALIDATORS[id(prop)] = (prop, Draft202012Validator(subschema))
    return cached[1]


def _type_problem(key: str, value: Any, error: Any, schema: dict[str, Any]) -> JobProblem:
    shown = secrets.mask({key: value})[key]
    if not error.absolute_path and (expected := _expected_types(schema)):
        got = JSON_TYPES.get(type(value), type(value).__name__)
        if got not in expected:
            wanted = " or ".join(expected)
            fix = (
                f"write {key}={value.strip()} (a number, without quotes)"
                if "integer" in expected and isinstance(value, str) and value.strip().isdigit()
                else f"give {key} a value of type {wanted}"
            )
            article = "an" if got[0] in "aeiou" else "a"
            message = f"{key} is {article} {got} ({shown!r}); the template expects {wanted}"
            return JobProblem(key, message, fix)
    where = key + "".join(
        f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path
    )
    return JobProblem(
        key,
        f"{where}: {secrets.scrub(error.message)}",
        f"see the '{key}' variable of the pool's template",
    )


def _expected_types(schema: dict[str, Any]) -> list[str]:
    """The JSON types a variable takes, nulls left out (an unset value is simply omitted)."""
    options = schema.get("anyOf") or [schema]
    found: list[str] = []
    for option in options:
        kind = option.get("type")
        if kind is None and "$ref" in option:
            kind = "object"
        for name in kind if isinstance(kind, list) else [kind]:
            if name and name != "null" and name not in found:
                found.append(name)
    return found
