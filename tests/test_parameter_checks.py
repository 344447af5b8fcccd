"""Parameter values checked against the flow's signature, without a server.

`check_parameters` skips Prefect's `validate_parameters` when every value is of its
parameter's plain annotated type. These tables hold that shortcut to Prefect's answer:
it may only ever skip a check Prefect would pass.
"""

from __future__ import annotations

import inspect
from typing import Annotated, Any

import pytest
from prefect import flow
from pydantic import BaseModel, Field

from flowfleet import DeploymentConfig
from flowfleet.parameter_checks import _plainly_valid, check_parameters
from flowfleet.registry import Registration


class Window(BaseModel):
    days: int


@flow(name="typed")
def typed(
    rows: int = 1,
    ratio: float = 0.5,
    label: str = "x",
    dry: bool = False,
    loose=None,
    positive: Annotated[int, Field(gt=0)] = 1,
    window: Window | None = None,
    tags: list[str] | None = None,
) -> None: ...


@flow(name="open-ended")
def open_ended(rows: int = 1, **extra: Any) -> None: ...


CASES = [
    # (parameters, shortcut taken, Prefect accepts)
    ({}, True, True),
    ({"rows": 3}, True, True),
    ({"ratio": 2}, True, True),
    ({"ratio": 2.5}, True, True),
    ({"label": "y"}, True, True),
    ({"dry": True}, True, True),
    ({"loose": {"any": ["thing"]}}, True, True),
    ({"rows": 3, "label": "y", "dry": False}, True, True),
    ({"rows": "3"}, False, True),  # lax coercion is Prefect's to judge
    ({"rows": "three"}, False, False),
    ({"rows": None}, False, False),
    ({"rows": True}, False, True),
    ({"rows": 2.5}, False, False),
    ({"label": 5}, False, False),
    ({"dry": "maybe"}, False, False),
    ({"positive": 5}, False, True),
    ({"positive": -1}, False, False),
    ({"window": {"days": 3}}, False, True),
    ({"window": {"days": "x"}}, False, False),
    ({"tags": ["a"]}, False, True),
    ({"tags": [1]}, False, False),
]


def prefect_accepts(f, params: dict[str, Any]) -> bool:
    try:
        f.validate_parameters(params)
    except Exception:
        return False
    return True


@pytest.mark.parametrize("params, shortcut, accepted", CASES, ids=[repr(c[0]) for c in CASES])
def test_the_shortcut_skips_only_what_prefect_accepts(params, shortcut, accepted) -> None:
    assert _plainly_valid(typed.fn, inspect.signature(typed.fn), params) is shortcut
    assert prefect_accepts(typed, params) is accepted
    assert not shortcut or accepted


def test_kwargs_always_go_to_prefect() -> None:
    signature = inspect.signature(open_ended.fn)
    assert _plainly_valid(open_ended.fn, signature, {"rows": 3})
    assert not _plainly_valid(open_ended.fn, signature, {"other": 3})  # lands in **extra


def test_annotations_as_types_or_as_strings_take_the_shortcut_alike() -> None:
    namespace: dict[str, Any] = {}
    exec("def f(rows: int = 1, label: str = 'x'): ...", namespace)  # types, not strings
    signature = inspect.signature(namespace["f"])
    assert _plainly_valid(namespace["f"], signature, {"rows": 3, "label": "y"})
    assert not _plainly_valid(namespace["f"], signature, {"rows": "3"})


def test_an_annotation_name_the_module_rebinds_goes_to_prefect() -> None:
    namespace: dict[str, Any] = {}
    exec("from __future__ import annotations\nint = str\ndef f(rows: int = 1): ...", namespace)
    assert not _plainly_valid(namespace["f"], inspect.signature(namespace["f"]), {"rows": 3})


def problems_of(params: dict[str, Any]) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    reg = Registration(typed, DeploymentConfig(parameters=params), "demo.flows", "flows.py:1")
    check_parameters(
        reg, reg.config, lambda message, field, fix=None: found.append((field, message))
    )
    return found


@pytest.mark.parametrize("params, shortcut, accepted", CASES, ids=[repr(c[0]) for c in CASES])
def test_check_parameters_reports_a_problem_exactly_when_prefect_refuses(
    params, shortcut, accepted
) -> None:
    problems = problems_of(params)
    assert (problems == []) is accepted, problems
    if not accepted:
        (field, message), *_ = problems
        assert field.startswith("parameters")
