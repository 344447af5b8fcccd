"""A config's parameters checked against its flow's signature, before anything is deployed.

Unknown and missing parameters are problems naming the parameter; the values are then
validated by Prefect's own `Flow.validate_parameters`, so a type the flow would refuse
at run time is refused while resolving.
"""

from __future__ import annotations

import builtins
import inspect
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flowfleet.config import DeploymentConfig
from flowfleet.name_checks import did_you_mean
from flowfleet.registry import Registration


def check_parameters(reg: Registration, config: DeploymentConfig, problem: Any) -> dict[str, Any]:
    signature = inspect.signature(reg.flow.fn)
    accepts_any = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    params = dict(config.parameters)
    bad = False
    if not accepts_any:
        for name in params:
            if name not in signature.parameters:
                accepted = ", ".join(signature.parameters) or "none"
                problem(
                    f"flow does not accept parameter '{name}' (accepted: {accepted})",
                    f"parameters.{name}",
                    did_you_mean(name, list(signature.parameters))
                    or "remove it, or add it to the flow's signature",
                )
                bad = True
    for name, p in signature.parameters.items():
        if (
            p.default is p.empty
            and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
            and name not in params
        ):
            problem(
                f"required flow parameter '{name}' has no value and no default",
                f"parameters.{name}",
                f"set parameters={{'{name}': ...}}",
            )
            bad = True
    if bad or _plainly_valid(reg.flow.fn, signature, params):
        return params
    try:
        with _quiet("prefect.flows"):  # it logs the same error, over several lines
            reg.flow.validate_parameters(params)
    except Exception as exc:
        lines = [line.strip(" -") for line in str(exc).splitlines()[1:] if line.strip(" -")]
        for line in lines or [str(exc)]:
            name, sep, msg = line.partition(": ")
            if sep and name in params:
                problem(f"invalid value: {msg}", f"parameters.{name}")
            else:
                problem(f"parameters do not match the flow's signature: {line}", "parameters")
    return params


# An annotation whose values pydantic takes as they are, and the value types it takes.
_PLAIN: dict[Any, tuple[type, ...]] = {int: (int,), float: (int, float), str: (str,), bool: (bool,)}


def _plainly_valid(fn: Any, signature: inspect.Signature, params: dict[str, Any]) -> bool:
    """True when every value is of its parameter's plain annotated type (or it has none).

    Prefect's `validate_parameters` builds a pydantic model on every call: 27 of a cold
    10,000-deployment resolve's 36 s under cProfile, for `{"rows": 23}` against
    `rows: int`. Anything else (a container, a model, `Annotated`, a block reference,
    `**kwargs`) still goes to Prefect.
    """
    for name, value in params.items():
        parameter = signature.parameters.get(name)
        if parameter is None or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            return False
        if parameter.annotation is parameter.empty:
            continue  # pydantic reads a missing annotation as Any
        if type(value) not in _PLAIN.get(_plain_type(fn, parameter.annotation), ()):
            return False
    return True


def _plain_type(fn: Any, annotation: Any) -> Any:
    """`"int"` under `from __future__ import annotations` is `int`, unless the module
    rebinds the name."""
    if isinstance(annotation, str):
        return getattr(fn, "__globals__", {}).get(annotation, getattr(builtins, annotation, None))
    return annotation


@contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    logger = logging.getLogger(logger_name)
    disabled, logger.disabled = logger.disabled, True
    try:
        yield
    finally:
        logger.disabled = disabled
