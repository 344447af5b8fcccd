"""One environment's plan or deploy as GitHub Markdown, for a pull-request comment.

`plan --output github` and `deploy --output github` print one section each; the
workflow's `scripts/pr_comment.py` joins the `dev` and `prod` sections into the one
comment it keeps per pull request. GitHub rejects a comment over 65,536 characters,
and a 1,000-deployment plan lists about 150,000, so a section that would pass its
budget keeps what a reviewer must see (the verdict, the counts, conflicts, blockers
and failures, every package's image) and lists changed deployments only while they
fit, saying how many it left out. The package table is `render_github_images`'s,
a changed deployment's row `render_github_rows`'s.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable

from flowfleet import secrets
from flowfleet.apply import Report
from flowfleet.desired import DesiredDeployment
from flowfleet.plan import Change, Plan
from flowfleet.render_automations import automations_markdown
from flowfleet.render_github_images import package_table
from flowfleet.render_github_rows import OPEN_ROWS, change_row, collapsed, short
from flowfleet.render_pools import pools_markdown

COMMENT_LIMIT = 65_536  # GitHub's limit for an issue or pull-request comment body
SECTION_BUDGET = 30_000  # two sections (dev, prod) and the comment's frame fit the limit
BUILT_ENV = "FLOWFLEET_IMAGES_BUILT"  # the `images changed` matrix of this run's builds
LOUD_ROWS = 25  # conflicts, blockers and failures listed before "and N more"


def built_packages(value: str | None = None) -> set[str] | None:
    """The packages this run built, from `images changed`'s matrix; None when unknown."""
    text = value if value is not None else os.environ.get(BUILT_ENV)
    if not text:
        return None
    try:
        return {row["package"] for row in json.loads(text)["include"]}
    except (ValueError, KeyError, TypeError):
        return None


def plan_section(
    plan: Plan,
    desired: Iterable[DesiredDeployment] = (),
    *,
    built: set[str] | None = None,
    budget: int = SECTION_BUDGET,
) -> str:
    """What `plan` would change in one environment (read-only)."""
    if plan.broken and not plan.blockers:
        verdict = f"❌ {len(plan.broken)} package(s) did not load; {_changed(plan) or 'nothing'}"
        verdict += " to apply for the rest"
    elif plan.blockers:
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
    elif plan.broken:
        verdict = f"❌ {len(plan.broken)} package(s) did not load; the rest deployed"
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
            *(f"> **problem:** {short(line, 400)}  " for line in shown),
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
    automations = plan.automations
    if automations.has_changes:
        count = len(automations.create + automations.update + automations.delete)
        parts.append(f"{count} automation change(s)")
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
    if plan.not_declared:
        names = ", ".join(f"`{c.full_name}`" for c in plan.not_declared)
        head[-1] += f" · {len(plan.not_declared)} not declared (kept; `--prune` deletes it): "
        head[-1] += short(names, 2000)
    head.append("")
    head += _loud(plan, report)
    head += pools_markdown(plan.pools)  # declared work pools that change, before deployments
    head += package_table(plan, desired, built, budget // 3)

    changed = plan.conflicts + plan.create + plan.update + plan.delete
    # Failures first: a reviewer must see them even when the list is cut short.
    changed.sort(key=lambda c: _rank(c, results))
    columns = ["Deployment", "Package", "Change"] + (["Result"] if report else []) + ["Details"]
    header = [
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
    ]
    rows = [change_row(c, results.get(c.full_name), report is not None) for c in changed]
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
            table = collapsed(f"{len(rows)} changed deployments", table)
        parts.append(table)
    omitted = len(rows) - len(listed)
    if omitted:
        parts.append(
            f"_{omitted} more changed deployment(s) not listed, to stay under GitHub's "
            f"{COMMENT_LIMIT:,}-character comment limit: run `flowfleet plan --env "
            f"{plan.environment}` or see the job summary for every row._"
        )
    if automation_rows := automations_markdown(plan.automations):
        parts.append("\n".join(automation_rows))
    if unchanged:
        names = ", ".join(unchanged)
        used = sum(len(p) for p in parts)
        if used + len(names) + 200 <= budget:
            parts.append(collapsed(f"{len(unchanged)} unchanged", names))
        else:
            parts.append(f"{len(unchanged)} unchanged deployments (not listed).")
    return "\n\n".join(p.strip("\n") for p in parts) + "\n"


def _rank(change: Change, results: dict) -> int:
    outcome = results.get(change.full_name)
    if outcome is not None and outcome.status == "failed":
        return 0
    return {"conflict": 1, "delete": 2, "update": 3, "create": 4}.get(change.action, 5)


def _loud(plan: Plan, report: Report | None) -> list[str]:
    """Conflicts, blockers and failures as a GitHub caution block, capped in length."""
    lines = [
        f"**not loaded, left as it is:** {secrets.scrub(line)}"
        for found in plan.broken.values()
        for line in found
    ]
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
    return ["> [!CAUTION]", *(f"> {short(line, 400)}  " for line in shown), ""]
