"""A `DeploymentConfig(...)` (or infra, or schedule) written wrong, as problems that name the fix.

Such a call raises while the team's module is imported, so it first looks like any
import error. The model that refused its arguments is found in the traceback (the
`self` of pydantic's `__init__`), so a misspelled keyword gets a did-you-mean from that
model's own fields, as a misspelled override key does (name_checks).
"""

from __future__ import annotations

from pydantic import BaseModel, ValidationError

from flowfleet.name_checks import did_you_mean
from flowfleet.problems import Problem
from flowfleet.registry import ImportFailure


def config_problems(failure: ImportFailure, package: str) -> list[Problem]:
    """One problem per refused argument; [] when the failure is not a model's refusal."""
    error = failure.error
    model = _refusing_model(error) if isinstance(error, ValidationError) else None
    if model is None:
        return []
    assert isinstance(error, ValidationError)
    name = model.__name__
    fields = list(model.model_fields)
    problems = []
    for item in error.errors():
        loc = ".".join(str(p) for p in item["loc"])
        if item["type"] == "extra_forbidden" and len(item["loc"]) == 1:
            message = f"{name}(...) has no keyword '{loc}'"
            fix = did_you_mean(loc, fields) or f"use one of: {', '.join(fields)}"
        else:
            message = f"{name}(...) refused: {item['msg'].removeprefix('Value error, ')}"
            fix = f"correct the {name}(...) arguments written there"
        problems.append(Problem(message, package, None, loc or None, fix, failure.source))
    return problems


def _refusing_model(error: ValidationError) -> type[BaseModel] | None:
    """The model whose `__init__` raised: the last frame whose `self` is a model."""
    found = None
    tb = error.__traceback__
    while tb is not None:
        candidate = tb.tb_frame.f_locals.get("self")
        if tb.tb_frame.f_code.co_name == "__init__" and isinstance(candidate, BaseModel):
            found = type(candidate)
        tb = tb.tb_next
    return found if found is not None and found.__name__ == error.title else None
