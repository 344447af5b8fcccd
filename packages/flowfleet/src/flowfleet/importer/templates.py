"""`{{ }}` templated values in a prefect.yaml: which ones flowfleet can keep, which it cannot.

`prefect deploy` fills `{{ $VAR }}`, `{{ prefect.variables.x }}`,
`{{ prefect.blocks.t.n }}` and build-step outputs at deploy time, from wherever
it runs. A decorator holds literal values, so these are dropped and reported,
never guessed. `{{ ctx.* }}` is filled by the worker at run time and is kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

TEMPLATE = re.compile(r"\{\{\s*([^}]*?)\s*\}\}")
_DROPPED = object()


@dataclass(frozen=True)
class Template:
    path: str  # the field, e.g. "parameters.region"
    text: str  # the original value

    @property
    def placeholder(self) -> str:
        match = TEMPLATE.search(self.text)
        return match.group(1) if match else self.text

    @property
    def is_image_build(self) -> bool:
        """`image: "{{ build-image.image }}"`: flowfleet builds and tags the image itself."""
        return self.path.endswith("image") and self.placeholder.endswith(".image")

    def explain(self) -> str:
        ref = self.placeholder
        if ref.startswith("$"):
            what = f"the environment variable {ref[1:]}"
        elif ref.startswith("prefect.variables."):
            what = f"the Prefect variable '{ref.removeprefix('prefect.variables.')}'"
        elif ref.startswith("prefect.blocks."):
            what = f"the Prefect block '{ref.removeprefix('prefect.blocks.')}'"
        else:
            what = f"the output '{ref}' of a build or push step"
        return f"{self.text!r} is filled by `prefect deploy` from {what}; left out"


def is_runtime(text: str) -> bool:
    """Only `{{ ctx.* }}` placeholders: the worker fills them per run."""
    names = TEMPLATE.findall(text)
    return bool(names) and all(n.startswith("ctx.") for n in names)


def strip_templates(value: Any, path: str, found: list[Template]) -> Any:
    """`value` without its deploy-time templated leaves (recorded in `found`).

    A dict loses the key, a list the item; a templated scalar comes back as None.
    """
    result = _strip(value, path, found)
    return None if result is _DROPPED else result


def _strip(value: Any, path: str, found: list[Template]) -> Any:
    if isinstance(value, str):
        if TEMPLATE.search(value) and not is_runtime(value):
            found.append(Template(path, value))
            return _DROPPED
        return value
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            kept = _strip(item, f"{path}.{key}", found)
            if kept is not _DROPPED:
                out[key] = kept
        return out
    if isinstance(value, list):
        kept_items = [_strip(item, f"{path}[{i}]", found) for i, item in enumerate(value)]
        return [item for item in kept_items if item is not _DROPPED]
    return value
