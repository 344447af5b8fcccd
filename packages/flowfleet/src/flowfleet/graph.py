"""`flowfleet graph`: the fleet's triggers as a Mermaid flowchart, for a PR or a README.

An `after()` trigger is an edge from the upstream deployment to the one it runs,
labelled with the states; a Prefect trigger is an edge from the events it expects.
Deployments without triggers on either side are left out. Pure: resolved data in, text out.
"""

from __future__ import annotations

import re

from flowfleet.desired import DesiredDeployment


def mermaid(deployments: list[DesiredDeployment]) -> str:
    ids: dict[str, str] = {}

    def node(label: str, shape: str = '["{}"]') -> str:
        if label not in ids:
            base = re.sub(r"[^A-Za-z0-9]+", "_", label).strip("_") or "n"
            ids[label] = base if base not in ids.values() else f"{base}_{len(ids)}"
            lines.append(f"  {ids[label]}{shape.format(_quoted(label))}")
        return ids[label]

    lines = ["flowchart LR"]
    edges: list[str] = []
    for deployment in sorted(deployments, key=lambda d: d.full_name):
        for spec in deployment.triggers:
            down = node(deployment.full_name)
            # A Prefect trigger's events are a stadium: not a deployment.
            up = node(spec.upstream) if spec.upstream else node(spec.label(), '(["{}"])')
            edges.append(f"  {up} -->|{_quoted(spec.label())}| {down}")
    return "\n".join(lines + edges) + "\n"


def _quoted(text: str) -> str:
    """Mermaid labels: quotes and pipes would end them early."""
    return text.replace('"', "#quot;").replace("|", "#124;")
