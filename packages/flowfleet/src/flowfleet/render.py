"""Render plans and apply reports as a rich table, JSON, or Markdown for a PR comment."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

from rich.console import Console
from rich.table import Table

from flowfleet import secrets
from flowfleet.apply import Report
from flowfleet.json_output import print_json
from flowfleet.plan import Change, Plan
from flowfleet.render_automations import (
    automations_json,
    automations_markdown,
    automations_table,
)
from flowfleet.render_pools import pools_json, pools_markdown, pools_table
from flowfleet.render_style import STYLE, cell
from flowfleet.spec import Schedule
from flowfleet.terminal import literal

SECTIONS = ("create", "update", "unchanged", "delete")


class Output(StrEnum):
    table = "table"
    json = "json"
    markdown = "markdown"
    github = "github"  # a pull-request comment section: flowfleet.render_github


def _short(value: Any, width: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= width else text[: width - 1] + "…"


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
        "api_url": secrets.scrub(plan.api_url),
    }
    for section in (*SECTIONS, "conflicts"):
        data[section] = [secrets.mask(_change_json(c, section)) for c in getattr(plan, section)]
    data["blockers"] = [secrets.scrub(b) for b in plan.blockers]
    data["automations"] = automations_json(plan.automations)
    data["not_declared"] = [secrets.mask(_change_json(c, "kept")) for c in plan.not_declared]
    data["broken_packages"] = [
        {"package": package, "problems": [secrets.scrub(line) for line in lines]}
        for package, lines in plan.broken.items()
    ]
    data["pools"] = pools_json(plan.pools)
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
    counts += _partial_counts(plan)
    lines = [f"### flowfleet plan for `{plan.environment}`", "", counts, ""]
    lines += pools_markdown(plan.pools)
    lines += [
        f"> **not loaded, left as it is:** {cell(secrets.scrub(line))}\n"
        for found in plan.broken.values()
        for line in found
    ]
    rows = plan.create + plan.update + plan.delete + plan.conflicts + plan.not_declared
    if rows:
        lines += [
            "| Deployment | Action | Work pool | Storage | Details |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| `{c.full_name}` | {c.action} | {c.work_pool or ''} | {_storage(c)} "
            f"| {cell(_details(c))} |"
            for c in rows
        ]
    lines += automations_markdown(plan.automations)
    for blocker in plan.blockers:
        lines.append(f"\n> **blocked:** {secrets.scrub(blocker)}")
    return "\n".join(lines) + "\n"


def plan_table(plan: Plan, console: Console) -> None:
    for found in plan.broken.values():  # first: what this plan leaves alone, and why
        for line in found:
            console.print(f"[bold red]not loaded, left as it is:[/] {literal(secrets.scrub(line))}")
    pools_table(plan.pools, console)
    table = Table(title=literal(f"Plan for {plan.environment} ({plan.api_url})"))
    for column in ("Deployment", "Action", "Work pool", "Storage", "Details"):
        table.add_column(column, overflow="fold")
    rows = plan.create + plan.update + plan.delete + plan.conflicts + plan.not_declared
    for change in rows + plan.unchanged:
        style = STYLE.get(change.action, "")
        table.add_row(  # names and server text are shown as written, never as markup
            literal(change.full_name),
            f"[{style}]{change.action}[/]",
            literal(change.work_pool),
            literal(_storage(change)),
            literal(_details(change)),
        )
    console.print(table)
    automations_table(plan.automations, console)
    console.print(
        f"{len(plan.create)} to create, {len(plan.update)} to update, "
        f"{len(plan.delete)} to delete, {len(plan.unchanged)} unchanged, "
        f"{len(plan.conflicts)} conflicts, {len(plan.blockers)} blockers{_partial_counts(plan)}."
    )


def _partial_counts(plan: Plan) -> str:
    """What a plan leaves alone: undeclared deployments kept, packages that did not load."""
    text = f", {len(plan.not_declared)} not declared (kept)" if plan.not_declared else ""
    if plan.broken:
        text += f", {len(plan.broken)} package(s) not loaded ({', '.join(plan.broken)})"
    return text


def render_plan(plan: Plan, output: Output, console: Console) -> None:
    if output is Output.json:
        print_json(plan_json(plan), default=str)
    elif output in (Output.markdown, Output.github):
        print(plan_markdown(plan), end="")
    else:
        plan_table(plan, console)


def render_report(report: Report, output: Output, console: Console) -> None:
    counts = report.counts()
    if output is Output.json:
        print_json(
            {
                "environment": report.environment,
                "api_url": secrets.scrub(report.api_url),
                "results": [secrets.mask(o.model_dump()) for o in report.outcomes],
                "summary": counts,
                "writes": report.writes,
                "writers": report.writers.model_dump() if report.writers else None,
                "ok": report.ok,
                "aborted": secrets.scrub(report.aborted or "") or None,
            }
        )
        return
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "nothing"
    writers = f"Writes in flight: {report.writers.describe()}." if report.writers else ""
    if output in (Output.markdown, Output.github):
        print(f"### flowfleet deploy to `{report.environment}`\n\n{summary}\n")
        if writers:
            print(f"{writers}\n")
        print("| Name | Status | Details |\n|---|---|---|")
        for o in report.outcomes:
            print(f"| `{o.full_name}` | {o.status} | {cell(secrets.scrub(o.details))} |")
        return
    table = Table(title="Deployments")
    for column in ("Name", "Status", "Details"):
        table.add_column(column, overflow="fold")
    for o in report.outcomes:
        table.add_row(
            literal(o.full_name),
            f"[{STYLE.get(o.status, 'default')}]{o.status}[/]",
            literal(o.details),
        )
    console.print(table)
    verdict = "Failed to apply every change" if report.failed or report.aborted else "Applied"
    console.print(f"{verdict}: {summary}.")
    if writers:
        console.print(writers)
