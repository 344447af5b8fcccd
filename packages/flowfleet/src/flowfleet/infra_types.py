"""The infra-type union: every infra type the plugins contribute, as one validator.

Infra types come only from plugins (the built-in ones are default plugins), so the
union is built once plugins load, and rebuilt when one is registered or removed.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter

from flowfleet.errors import describe_error
from flowfleet.infra.base import InfraConfig
from flowfleet.problems import Problem

if TYPE_CHECKING:
    from flowfleet.plugin_manager import Plugins


def collect_infra_types(plugins: Plugins) -> InfraTypes:
    """Every infra type the plugins contribute, with their validating union.

    Each plugin is asked on its own, so one that raises or returns something
    other than InfraConfig subclasses becomes a problem naming it; two plugins
    giving the same `type` name are a problem too, never a silent shadowing.
    """
    types: dict[str, type[InfraConfig]] = {}
    owners: dict[str, str] = {}
    problems: list[Problem] = []

    def problem(plugin: str, message: str, fix: str) -> None:
        package = plugins.info[plugin].distribution if plugin in plugins.info else None
        problems.append(Problem(f"plugin '{plugin}' {message}", package=package, fix=fix))

    for plugin, result in plugins.call_each("flowfleet_infra_types"):
        try:
            if isinstance(result, Exception):
                raise result
            contributed = list(result or [])
        except Exception as exc:
            problem(
                plugin,
                f"raised in flowfleet_infra_types: {describe_error(exc)}",
                f"fix or uninstall the plugin '{plugin}'",
            )
            continue
        for cls in contributed:
            name = infra_type_name(cls)
            if name is None:
                problem(
                    plugin,
                    f"returned {cls!r} from flowfleet_infra_types, which is not an "
                    "InfraConfig subclass with a `type` literal",
                    "return a list of InfraConfig subclasses, such as `return [Batch]`",
                )
            elif name in types and types[name] is not cls:
                problem(
                    plugin,
                    f"and plugin '{owners[name]}' both contribute infra type '{name}'",
                    "uninstall one of them, or rename one type",
                )
            else:
                types.setdefault(name, cls)
                owners.setdefault(name, plugin)
    return InfraTypes(types, problems)


class InfraTypes:
    """The discriminated union of every known infra type, built once plugins load."""

    def __init__(self, types: dict[str, type[InfraConfig]], problems: list[Problem] | None = None):
        self.types = types
        self.problems = problems or []
        self._adapter: TypeAdapter[Any] | None = None

    @property
    def names(self) -> list[str]:
        return sorted(self.types)

    def validate(self, value: InfraConfig | dict[str, Any]) -> InfraConfig:
        """Turn an instance or a `{"type": ...}` dict into its registered class.

        Raises `ValueError` naming the known types for an unknown `type`.
        """
        data = value.model_dump() if isinstance(value, InfraConfig) else dict(value)
        name = data.get("type")
        if name not in self.types:
            raise ValueError(f"unknown infra type '{name}' (known: {', '.join(self.names)})")
        if type(value) is self.types[name]:
            return value  # type: ignore[return-value]
        return self.adapter.validate_python(data)

    @property
    def adapter(self) -> TypeAdapter[Any]:
        if self._adapter is None:
            from typing import Annotated, Union

            from pydantic import Field

            members = tuple(self.types.values())
            union = members[0] if len(members) == 1 else Union[members]  # noqa: UP007
            self._adapter = TypeAdapter(Annotated[union, Field(discriminator="type")])
        return self._adapter


def infra_type_name(cls: object) -> str | None:
    """The `type` literal of an InfraConfig subclass; None for anything else."""
    if not (inspect.isclass(cls) and issubclass(cls, InfraConfig)):
        return None
    field_info = cls.model_fields.get("type")
    name = field_info.default if field_info else None
    return name if isinstance(name, str) else None
