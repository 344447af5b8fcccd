"""The per-package table of a GitHub plan or deploy section: each package's image and counts.

A reviewer must see every package's image (rebuilt or reused, or whether the plan
moves its tag) even when the changed deployments are cut short, so this table has
its own share of the section's budget.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from flowfleet.desired import DesiredDeployment
from flowfleet.plan import Change, Plan
from flowfleet.render_github_rows import OPEN_ROWS, collapsed


@dataclass(frozen=True)
class ImageRow:
    package: str
    reference: str
    status: str  # "rebuilt", "reused", "new tag", "same tag"


def image_rows(
    desired: Iterable[DesiredDeployment], plan: Plan, built: set[str] | None = None
) -> list[ImageRow]:
    """Each package's image. Without the build matrix, whether the plan moves its tag."""
    moved = {c.package for c in plan.create} | {c.package for c in plan.update if _image_moved(c)}
    images: dict[str, str] = {}
    for d in desired:
        if d.image:
            images.setdefault(d.package, d.image)
    rows = []
    for package, reference in sorted(images.items()):
        if built is not None:
            status = "rebuilt" if package in built else "reused"
        else:
            status = "new tag" if package in moved else "same tag"
        rows.append(ImageRow(package, reference, status))
    return rows


def _image_moved(change: Change) -> bool:
    jobs = change.changes_json().get("job_variables") or {}
    return (jobs.get("from") or {}).get("image") != (jobs.get("to") or {}).get("image")


def package_table(
    plan: Plan, desired: list[DesiredDeployment], built: set[str] | None, budget: int
) -> list[str]:
    """Per package: its image (rebuilt or reused) and how many deployments change."""
    counts: dict[str, Counter] = {}
    for change in plan.create + plan.update + plan.delete + plan.conflicts + plan.unchanged:
        counts.setdefault(change.package or "?", Counter())[change.action] += 1
    images = {row.package: row for row in image_rows(desired, plan, built)}
    names = sorted(set(counts) | set(images))
    if not names:
        return []
    lines = [
        "| Package | Image | create | update | delete | unchanged | conflict |",
        "|---|---|---|---|---|---|---|",
    ]
    # Packages with changes first, so a cut list still shows them.
    names.sort(
        key=lambda n: (
            counts.get(n, Counter())["unchanged"] == sum(counts.get(n, Counter()).values()),
            n,
        )
    )
    rows = []
    for name in names:
        c = counts.get(name, Counter())
        image = images.get(name)
        cell = f"`{image.reference}` ({image.status})" if image else "no image"
        rows.append(
            f"| {name} | {cell} | {c['create']} | {c['update']} | {c['delete']} "
            f"| {c['unchanged']} | {c['conflict']} |"
        )
    kept = []
    for row in rows:
        if sum(len(r) + 1 for r in kept) + len(row) > budget:
            break
        kept.append(row)
    lines += kept
    if len(kept) < len(rows):
        lines.append(f"| … and {len(rows) - len(kept)} more packages | | | | | | |")
    table = "\n".join(lines)
    if len(names) > OPEN_ROWS:
        table = collapsed(f"{len(names)} packages", table)
    return [table, ""]
