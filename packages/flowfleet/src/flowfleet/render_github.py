"""One environment's plan or deploy as GitHub Markdown, for a pull-request comment.

`plan --output github` and `deploy --output github` print one section each; the
workflow's `scripts/pr_comment.py` joins the `dev` and `prod` sections into the one
comment it keeps per pull request. GitHub rejects a comment over 65,536 characters,
and a 1,000-deployment plan lists about 150,000, so a section that would pass its
budget keeps what a reviewer must see (the verdict, the counts, conflicts, blockers
and failures, every package's image) and lists changed deployments only while they
fit, saying how many it left out.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from flowfleet import render, secrets
from flowfleet.apply import Report
from flowfleet.desired import DesiredDeployment
from flowfleet.plan import Change, Plan

COMMENT_LIMIT = 65_536  # GitHub's limit for an issue or pull-request comment body
SECTION_BUDGET = 30_000  # two sections (dev, prod) and the comment's frame fit the limit
BUILT_ENV = "FLOWFLEET_IMAGES_BUILT"  # the `images changed` matrix of this run's builds
LOUD_ROWS = 25  # conflicts, blockers and failures listed before "and N more"
OPEN_ROWS = 10  # a changes table longer than this is collapsed


@dataclass(frozen=True)
class ImageRow:
    package: str
    reference: str
    status: str  # "rebuilt", "reused", "new tag", "same tag"


def built_packages(value: str | None = None) -> set[str] | None:
    """The packages this run built, from `images changed`'s matrix; None when unknown."""
    text = value if value is not None else os.environ.get(BUILT_ENV)
    if not text:
        return None
    try:
        return {row["package"] for row in json.loads(text)["include"]}
    except (ValueError, KeyError, TypeError):
        return None


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


def plan_section(
    plan: Plan,
    desired: Iterable[DesiredDeployment] = (),
    *,
    built: set[str] | None = None,
    budget: int = SECTION_BUDGET,
) -> str:
    """What `plan` would change in one environment (read-only)."""
    if plan.blockers:
        verdict = f"⛔ blocked ({len(plan.blockers)}): `deploy` would write nothing"
        if plan.has_changes:
            verdict += f" of its {_changed(plan)}"
    elif plan.has_changes:
        verdict = f"📝 {_changed(plan)} to apply"
    else:
        verdict = "✅ no changes"
    return _section(
        f"`{plan.environment}`: plan",
        verdict,
        plan,
        desired,
        None,
        built,
        budget,
    )


def deploy_section(
    plan: Plan,
    report: Report | None,
    desired: Iterable[DesiredDeployment] = (),
    *,
    built: set[str] | None = None,
    budget: int = SECTION_BUDGET,
) -> str:
    """What `deploy` did; with no report (blocked, or a dry run), what it would do."""
    if report is None:
        return plan_section(plan, desired, built=built, budget=budget)
    counts = report.counts()
    if report.aborted:
        verdict = "❌ deploy stopped part-way"
    elif report.failed:
        verdict = f"❌ deploy failed for {len(report.failed)} deployment(s)"
    elif plan.has_changes:
        verdict = "✅ deployed"
    else:
        verdict = "✅ deployed: nothing to change"
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "nothing"
    return _section(
        f"`{report.environment}`: deploy",
        f"{verdict} ({summary})",
        plan,
        desired,
        report,
        built,
        budget,
    )


def problems_section(environment: str, problems: Iterable[object], command: str = "plan") -> str:
    """The fleet did not resolve (a package failed to load, a bad config): nothing was planned."""
    lines = [secrets.scrub(str(p)) for p in problems]
    shown = lines[:LOUD_ROWS] + (
        [f"… and {len(lines) - LOUD_ROWS} more"] if lines[LOUD_ROWS:] else []
    )
    return "\n".join(
        [
            f"### `{environment}`: {command}",
            "",
            f"**⛔ blocked: {len(lines)} problem(s) before planning; nothing was read or written**",
            "",
            "> [!CAUTION]",
            *(f"> **problem:** {_short(line, 400)}  " for line in shown),
            "",
            "Run `flowfleet validate` for the same list with files and lines.",
            "",
        ]
    )


def _changed(plan: Plan) -> str:
    parts = [
        f"{len(rows)} to {name}"
        for name, rows in (
            ("create", plan.create),
            ("update", plan.update),
            ("delete", plan.delete),
        )
        if rows
    ]
    return ", ".join(parts)


def _section(
    title: str,
    verdict: str,
    plan: Plan,
    desired: Iterable[DesiredDeployment],
    report: Report | None,
    built: set[str] | None,
    budget: int,
) -> str:
    desired = list(desired)
    results = {o.full_name: o for o in report.outcomes} if report else {}
    head = [f"### {title}", "", f"**{verdict}**", ""]
    head.append(
        f"{len(plan.create)} to create · {len(plan.update)} to update · "
        f"{len(plan.delete)} to delete · {len(plan.unchanged)} unchanged · "
        f"{len(plan.conflicts)} conflicts"
    )
    head.append("")
    head += _loud(plan, report)
    head += _packages(plan, desired, built, budget // 3)

    changed = plan.conflicts + plan.create + plan.update + plan.delete
    # Failures first: a reviewer must see them even when the list is cut short.
    changed.sort(key=lambda c: _rank(c, results))
    columns = ["Deployment", "Package", "Change"] + (["Result"] if report else []) + ["Details"]
    header = [
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
    ]
    rows = [_row(c, results.get(c.full_name), report is not None) for c in changed]
    unchanged = [f"`{c.full_name}`" for c in plan.unchanged]

    text = "\n".join(head)
    reserve = 400  # the closing lines and the "N more" note
    listed: list[str] = []
    used = len(text) + reserve
    for row in rows:
        used += len(row) + 1
        if used > budget:
            break
        listed.append(row)
    parts = [text]
    if listed:
        table = "\n".join(header + listed)
        if len(rows) > OPEN_ROWS:
            table = _collapsed(f"{len(rows)} changed deployments", table)
        parts.append(table)
    omitted = len(rows) - len(listed)
    if omitted:
        parts.append(
            f"_{omitted} more changed deployment(s) not listed, to stay under GitHub's "
            f"{COMMENT_LIMIT:,}-character comment limit: run `flowfleet plan --env "
            f"{plan.environment}` or see the job summary for every row._"
        )
    if unchanged:
        names = ", ".join(unchanged)
        used = sum(len(p) for p in parts)
        if used + len(names) + 200 <= budget:
            parts.append(_collapsed(f"{len(unchanged)} unchanged", names))
        else:
            parts.append(f"{len(unchanged)} unchanged deployments (not listed).")
    return "\n\n".join(p.strip("\n") for p in parts) + "\n"


def _rank(change: Change, results: dict) -> int:
    outcome = results.get(change.full_name)
    if outcome is not None and outcome.status == "failed":
        return 0
    return {"conflict": 1, "delete": 2, "update": 3, "create": 4}.get(change.action, 5)


def _row(change: Change, outcome, with_result: bool) -> str:
    action = {"conflict": "⚠️ **conflict**", "delete": "🗑️ delete"}.get(change.action, change.action)
    cells = [f"`{change.full_name}`", change.package or "", action]
    if with_result:
        status = outcome.status if outcome else "not run"
        cells.append("❌ **failed**" if status == "failed" else status)
    details = _details_text(change)
    if outcome is not None and outcome.status == "failed" and outcome.details:
        details = secrets.scrub(outcome.details)
    cells.append(render._cell(_short(details, 300)))
    return "| " + " | ".join(cells) + " |"


def _details_text(change: Change) -> str:
    """Each changed field, and inside a dict (job variables, parameters) each changed key,
    so an image tag's move is not cut off behind the keys that stayed."""
    if change.reason and not change.changes:
        return secrets.scrub(change.reason)
    if change.action == "create":
        return f"on `{change.work_pool}`" if change.work_pool else ""
    parts = []
    for field, pair in secrets.mask(change.changes_json()).items():
        before, after = pair.get("from"), pair.get("to")
        if isinstance(before, dict) and isinstance(after, dict):
            for key in sorted(set(before) | set(after)):
                if before.get(key) != after.get(key):
                    parts.append(
                        f"{field}.{key}: {_value(before.get(key))} → {_value(after.get(key))}"
                    )
        else:
            parts.append(f"{field}: {_value(before)} → {_value(after)}")
    return "; ".join(parts).replace("\n", " ")


def _value(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
    return f"`{_short(text, 80)}`".replace("``", "` `")


def _loud(plan: Plan, report: Report | None) -> list[str]:
    """Conflicts, blockers and failures as a GitHub caution block, capped in length."""
    lines: list[str] = []
    pools = [b for b in plan.blockers if not any(b.startswith(c.full_name) for c in plan.conflicts)]
    lines += [f"**blocked:** {secrets.scrub(b)}" for b in pools]
    lines += [
        f"**conflict:** `{c.full_name}`: {secrets.scrub(c.reason or '')}" for c in plan.conflicts
    ]
    if report is not None:
        if report.aborted:
            lines.append(f"**stopped:** {secrets.scrub(report.aborted)}")
        lines += [f"**failed:** `{o.full_name}`: {o.details}" for o in report.failed]
    if not lines:
        return []
    shown = lines[:LOUD_ROWS]
    if len(lines) > LOUD_ROWS:
        shown.append(f"… and {len(lines) - LOUD_ROWS} more")
    return ["> [!CAUTION]", *(f"> {_short(line, 400)}  " for line in shown), ""]


def _packages(
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
        table = _collapsed(f"{len(names)} packages", table)
    return [table, ""]


def _collapsed(summary: str, body: str) -> str:
    return f"<details><summary>{summary}</summary>\n\n{body}\n\n</details>\n"


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
