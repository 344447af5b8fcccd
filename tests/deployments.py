"""The smallest resolved deployment, for server-free tests of what one field changes."""

from __future__ import annotations

from typing import Any

from flowfleet.desired import DesiredDeployment


def minimal_deployment(**fields: Any) -> DesiredDeployment:
    """A deployment of flow `flow` named `default` on a process pool; `fields` override."""
    base: dict[str, Any] = dict(
        package="p",
        flow="flow",
        name="default",
        full_name="flow/default",
        entrypoint="m:f",
        work_pool="pool",
        pool_type="process",
        infra="worker",
    )
    return DesiredDeployment(**{**base, **fields})
