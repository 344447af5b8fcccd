"""Render plans and apply reports as a rich table, JSON, or Markdown for a PR comment."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from flowfleet import secrets
from flowfleet.apply import Report
from flowfleet.plan import Change, Plan
from flowfleet.spec import Schedule

SECTIONS = ("create", "update", "unchanged", "delete")
STYLE = {
    "create": "green",
    "created": "green",
    "update": "yellow",
    "updated": "yellow",
    "delete": "red",
    "deleted": "red",
    "failed": "bold red",
    "conflict": "bold red",
    "unchanged": "dim",
    "skipped": "dim",
}


class Output(StrEnum):
    table = "table"
    json = "json"
    markdown = "markdown"
    github = "github"  # a pull-request comment section: flowfleet.render_github


def _short(value: Any, width: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= width else text[: width - 1] + "…"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _details(change: Change) -> str:
    if change.reason and not change.changes:
        return secrets.scrub(change.reason)
    return "; ".join(
        f"{k}: {_schedules(v['from'])} → {_schedules(v['to'])}"
        if k == "schedules"
        else f"{k}: {_short(v['from'], 30)} → {_short(v['to'], 30)}"
        for k, v in secrets.mask(change.changes_json()).items()
    )


def _schedules(items: list[dict[str, Any]]) -> str:
    """Only the schedules that changed (see `plan.diff`), each named by slug or rule."""
    return _short(", ".join(Schedule(**s).describe() for s in items) or "none", 80)


def _storage(change: Change) -> str:
    """`git @ 1a2b3c4d5e6f`, `image`, or empty when unknown (a delete); then what runs the
    code when it is not the deployment's own image (a worker image, the worker host)."""
    storage = change.storage or ""
    if change.commit:
        storage = f"{change.storage or 'git'} @ {change.commit[:12]}"
    if change.runs and not change.runs.startswith(("image ", "git clone")):
        storage = f"{storage}: {change.runs}"
    return storage


def plan_json(plan: Plan) -> dict[str, Any]:
    data: dict[str, Any] = {
        "environment": plan.environment,
        "project": plan.project,
        "api_url": plan.api_url,
    }
    for section in (*SECTIONS, "conflicts"):
        data[section] = [secrets.mask(_change_json(c, section)) for c in getattr(plan, section)]
    data["blockers"] = [secrets.scrub(b) for b in plan.blockers]
    return data


def _change_json(change: Change, section: str) -> dict[str, Any]:
    """One plan row; `changes` (an update's) as from/to pairs, None values kept."""
    exclude = {"action"} | (set() if section == "update" else {"changes"})
    data = change.model_dump(exclude_none=True, exclude=exclude)
    if "changes" in data:
        data["changes"] = change.changes_json()  # in place: the key keeps its position
    return data


def plan_markdown(plan: Plan) -> str:
    counts = ", ".join(
        f"{len(getattr(plan, s))} to {s}"
        if s != "unchanged"
        else f"{len(plan.unchanged)} unchanged"
        for s in SECTIONS
    )
    counts += f", {len(plan.conflicts)} conflicts, {len(plan.blockers)} blockers"
    lines = [f"### flowfleet plan for `{plan.environment}`", "", counts, ""]
    rows = plan.create + plan.update + plan.delete + plan.conflicts
    if rows:
        lines += [
            "| Deployment | Action | Work pool | Storage | Details |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| `{c.full_name}` | {c.action} | {c.work_pool or ''} | {_storage(c)} "
            f"| {_cell(_details(c))} |"
            for c in rows
        ]
    for blocker in plan.blockers:
        lines.append(f"\n> **blocked:** {blocker}")
    return "\n".join(lines) + "\n"


def plan_table(plan: Plan, console: Console) -> None:
    table = Table(title=f"Plan for {plan.environment} ({plan.api_url})")
    for column in ("Deployment", "Action", "Work pool", "Storage", "Details"):
        table.add_column(column, overflow="fold")
    for change in plan.create + plan.update + plan.delete + plan.conflicts + plan.unchanged:
        style = STYLE.get(change.action, "")
        table.add_row(
            change.full_name,
            f"[{style}]{change.action}[/]",
            change.work_pool or "",
            _storage(change),
            escape(_details(change)),  # text from a server is not rich markup
        )
    console.print(table)
    console.print(
        f"{len(plan.create)} to create, {len(plan.update)} to update, "
        f"{len(plan.delete)} to delete, {len(plan.unchanged)} unchanged, "
        f"{len(plan.conflicts)} conflicts, {len(plan.blockers)} blockers."
    )


def render_plan(plan: Plan, output: Output, console: Console) -> None:
    if output is Output.json:
        print(json.dumps(plan_json(plan), indent=2, default=str))
    elif output in (Output.markdown, Output.github):
        print(plan_markdown(plan), end="")
    else:
        plan_table(plan, console)


def render_report(report: Report, output: Output, console: Console) -> None:
    counts = report.counts()
    if output is Output.json:
        print(
            json.dumps(
                {
                    "environment": report.environment,
                    "api_url": report.api_url,
                    "results": [o.model_dump() for o in report.outcomes],
                    "summary": counts,
                    "writes": report.writes,
                    "ok": report.ok,
                    "aborted": report.aborted,
                },
                indent=2,
            )
        )
        return
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "nothing"
    if output in (Output.markdown, Output.github):
        print(f"### flowfleet deploy to `{report.environment}`\n\n{summary}\n")
        print("| Name | Status | Details |\n|---|---|---|")
        for o in report.outcomes:
            print(f"| `{o.full_name}` | {o.status} | {_cell(o.details)} |")
        return
    table = Table(title="Deployments")
    for column in ("Name", "Status", "Details"):
        table.add_column(column, overflow="fold")
    for o in report.outcomes:
        table.add_row(
            o.full_name, f"[{STYLE.get(o.status, 'default')}]{o.status}[/]", escape(o.details)
        )
    console.print(table)
    verdict = "Failed to apply every change" if report.failed or report.aborted else "Applied"
    console.print(f"{verdict}: {summary}.")
